"""Imports run downward only: the task and aggregation floors do not reach up into models/ or torch."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_tasks_do_not_import_models():
    upward = {
        (path.name, name)
        for path in (SRC / "hybrid_retrieval" / "tasks").glob("*.py")
        for name in _imports(path)
        if name.startswith("hybrid_retrieval.models")
    }
    assert not upward
