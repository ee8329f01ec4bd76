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


# The modules of the rules that run in envs/report.yaml (aggregate_results, check_claims, plot_figures,
# compare_reference, render_report, write_paper_sources, download_haystack), which has no torch.
REPORT_ENV_MODULES = (
    "hybrid_retrieval.analysis.aggregate",
    "hybrid_retrieval.claims",
    "hybrid_retrieval.infra.numerics",
    "hybrid_retrieval.artifact.reference",
    "hybrid_retrieval.report.figures",
    "hybrid_retrieval.report.latex",
    "hybrid_retrieval.report.render",
    "hybrid_retrieval.tasks.haystack",
    "hybrid_retrieval.infra.workflow_support",
)


def test_report_env_modules_run_without_torch(tmp_path):
    """envs/report.yaml installs no torch (nor transformers): its rules' modules import and aggregate without."""
    import subprocess
    import sys

    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    code = f"""
import sys
# Packages torch.yaml has and report.yaml lacks: any import of them now raises ImportError, as when they are
# not installed (a finder, not sys.modules[name] = None: scipy probes sys.modules for torch and would trip).
import importlib.abc
BLOCKED = ("torch", "transformers", "tokenizers", "huggingface_hub", "datasets", "accelerate", "safetensors")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"{{name}} is not in envs/report.yaml", name=name)
        return None
sys.meta_path.insert(0, Block())
sys.path.insert(0, {str(fixtures)!r})
import importlib
for name in {REPORT_ENV_MODULES!r}:
    importlib.import_module(name)
import synthetic_results as fx
from hybrid_retrieval.analysis.aggregate import aggregate
from hybrid_retrieval.claims import evaluate_claims
root = __import__("pathlib").Path({str(tmp_path)!r})
fx.write_synthetic_results(root / "results")
aggregate(root / "results", root / "tables")
evaluate_claims(root / "tables", root / "claims.csv")
from hybrid_retrieval.report.figures import write_figures
from hybrid_retrieval.report.latex import write_paper_sources
from hybrid_retrieval.report.render import render_report
write_figures(root / "tables", root / "figures", formats=("pdf",))
render_report(tables_dir=root / "tables", claims_csv=root / "claims.csv", config={{}}, benchmarks_dir=None,
              out_html=root / "index.html")
write_paper_sources(tables_dir=root / "tables", claims_csv=root / "claims.csv", figures_dir=root / "figures",
                    out_dir=root / "generated")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "tables" / "sparsity_threshold.parquet").is_file()
    assert (tmp_path / "index.html").is_file() and (tmp_path / "generated" / "macros.tex").is_file()


# The schema is a leaf: the Snakefile loads it at parse time, and the analysis code reads it (not the reverse).
ANALYSIS_MODULES = ("hybrid_retrieval.claims", "hybrid_retrieval.analysis.aggregate", "hybrid_retrieval.report")


def test_config_imports_no_analysis_code():
    config_dir = SRC / "hybrid_retrieval" / "config"
    assert (config_dir / "__init__.py").is_file()
    reaching = {
        (path.name, name)
        for path in config_dir.glob("*.py")
        for name in _imports(path)
        if name.startswith(ANALYSIS_MODULES) or name.split(".")[0] in PARSE_FREE
    }
    assert not reaching


# What the Snakefile must parse and plan without: analysis, plotting and model libraries (seconds of
# import each, and not installed in every environment a dry run happens in).
PARSE_FREE = ("polars", "altair", "vl_convert", "torch")

PARSE_PROBE = """
import atexit, json, sys
atexit.register(lambda: print("IMPORTED=" + json.dumps(sorted({m.split(".")[0] for m in sys.modules}))))
from snakemake.cli import main
sys.argv = ["snakemake", "--dry-run", "--quiet", "all", "-s", sys.argv[1], "--directory", sys.argv[2], "--cores", "1"]
main()
"""


def test_snakefile_parses_without_polars_altair_or_torch(tmp_path):
    """A dry run of the default config (the Snakefile parsed, common.smk's constants read, the DAG planned)
    in a fresh interpreter leaves Polars, Altair, vl-convert and torch unimported."""
    import json
    import subprocess
    import sys

    snakefile = SRC.parent / "Snakefile"
    proc = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(snakefile), str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    [line] = [line for line in proc.stdout.splitlines() if line.startswith("IMPORTED=")]
    imported = set(json.loads(line.removeprefix("IMPORTED=")))
    assert {"snakemake", "hybrid_retrieval", "pydantic"} <= imported  # the probe saw the parse
    assert not imported & set(PARSE_FREE), sorted(imported & set(PARSE_FREE))


# The rooms of the package, bottom floor first (docs/INTERFACES.md, "Rooms"): a module imports only from its
# own room and the floors below it, so each room can be read, tested and replaced without the ones above.
FLOORS = (
    ("errors", "io", "rows", "filenames"),
    ("infra",),
    ("tasks",),
    ("models",),
    ("config",),
    ("interventions",),
    ("generation",),
    ("analysis",),
    ("claims",),
    ("report",),
    ("artifact",),
    ("jobs",),
    ("cli",),
)
FLOOR_OF = {room: level for level, rooms in enumerate(FLOORS) for room in rooms}


def _room(module: str) -> str | None:
    """The room of a dotted `hybrid_retrieval` module (`hybrid_retrieval.jobs.evaluate` -> jobs)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "hybrid_retrieval" else None


def _package_imports(path: Path) -> set[str]:
    """The package modules a file imports, also inside functions (`from hybrid_retrieval import x` -> x)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "hybrid_retrieval":
            names.update(f"hybrid_retrieval.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return {name for name in names if name.startswith("hybrid_retrieval.") and not name.endswith("__version__")}


def upward_imports(src: Path) -> list[tuple[str, str]]:
    """(file, imported module) for every import that reaches a higher floor than the file's room."""
    package = src / "hybrid_retrieval"
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(src).with_suffix("")
        room = _room(".".join(rel.parts))
        own = FLOOR_OF.get(room, 0)  # hybrid_retrieval/__init__.py: the ground floor
        for name in sorted(_package_imports(path)):
            if FLOOR_OF[_room(name)] > own:
                found.append((str(path.relative_to(package)), name))
    return found


def test_every_room_has_a_floor():
    """A new module or package beside the rooms gets a floor here (and a line in docs/INTERFACES.md)."""
    package = SRC / "hybrid_retrieval"
    rooms = {p.stem for p in package.glob("*.py")} | {p.parent.name for p in package.glob("*/__init__.py")}
    assert rooms - {"__init__"} == set(FLOOR_OF)


def test_rooms_import_downward():
    assert not upward_imports(SRC)


def test_an_upward_import_is_caught(tmp_path):
    """The check sees a lower room importing a higher one, also inside a function."""
    import shutil

    shutil.copytree(SRC / "hybrid_retrieval", tmp_path / "hybrid_retrieval", ignore=shutil.ignore_patterns("__pycache__"))
    leaf = tmp_path / "hybrid_retrieval" / "tasks" / "prompts.py"
    leaf.write_text(leaf.read_text() + "\n\ndef _late():\n    from hybrid_retrieval.jobs import evaluate\n")
    assert upward_imports(tmp_path) == [("tasks/prompts.py", "hybrid_retrieval.jobs")]


def oversized_without_reason(src: Path, limit: int = 400) -> list[str]:
    """Modules longer than `limit` lines whose docstring does not give a `Size (~N lines): <reason>`."""
    found = []
    for path in sorted((src / "hybrid_retrieval").rglob("*.py")):
        text = path.read_text()
        if text.count("\n") > limit and "Size (~" not in (ast.get_docstring(ast.parse(text)) or ""):
            found.append(str(path.relative_to(src)))
    return found


def test_a_long_module_says_why(tmp_path):
    """A room's module stays under ~400 lines unless its docstring says why it is one module."""
    assert not oversized_without_reason(SRC)
    package = tmp_path / "hybrid_retrieval"
    package.mkdir()
    (package / "long.py").write_text('"""A module."""\n' + "x = 1\n" * 401)
    assert oversized_without_reason(tmp_path) == ["hybrid_retrieval/long.py"]
