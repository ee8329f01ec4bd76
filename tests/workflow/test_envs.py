"""Per-rule conda envs: every package pinned to exactly one version, pip pins equal pyproject.toml's,
the package itself never installed by path (STYLE.md trap 4), and every env a rule names exists."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import REPO

pytestmark = pytest.mark.workflow

ENVS = sorted((REPO / "envs").glob("*.yaml"))
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([A-Za-z0-9_.+\-]+)$")
CONDA_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)=([0-9][A-Za-z0-9_.]*)$")  # name=version, one version only


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = list(project["dependencies"]) + [
        d for extra in project.get("optional-dependencies", {}).values() for d in extra
    ]
    pins = {}
    for dep in deps:
        match = PIN.match(dep.strip())
        assert match, f"pyproject dependency {dep!r} is not pinned with =="
        pins[_norm(match.group(1))] = match.group(2)
    return pins


def _env(path: Path) -> tuple[list[str], list[str]]:
    data = yaml.safe_load(path.read_text())
    conda, pip = [], []
    for dep in data["dependencies"]:
        if isinstance(dep, dict):
            pip += dep["pip"]
        else:
            conda.append(dep)
    return conda, pip


def test_there_are_the_three_envs() -> None:
    assert [p.name for p in ENVS] == ["latex.yaml", "report.yaml", "torch.yaml"]


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_env_pins_every_package_to_pyproject_versions(path: Path) -> None:
    conda, pip = _env(path)
    assert any(d.startswith("python=3.11") for d in conda), (
        "python must be pinned to 3.11 (pyproject requires-python)"
    )
    for dep in conda:
        assert CONDA_PIN.match(dep), (
            f"{path.name}: conda dependency {dep!r} is not pinned to one version (name=version)"
        )
    pins = _pyproject_pins()
    assert pip, f"{path.name} installs no pip packages"
    for dep in pip:
        assert "/" not in dep and not dep.startswith(("-e", ".", "file:", "git+")), (
            f"{path.name}: {dep!r} installs by path/URL; the package comes from src/ on sys.path instead"
        )
        match = PIN.match(dep)
        assert match, f"{path.name}: pip dependency {dep!r} is not pinned with =="
        name, version = _norm(match.group(1)), match.group(2)
        assert name in pins, f"{path.name}: {name} is not a pyproject.toml dependency; add it there first"
        assert version == pins[name], f"{path.name}: {name}=={version} but pyproject.toml pins {pins[name]}"


def test_every_rule_names_an_existing_env() -> None:
    named = set()
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        text = smk.read_text()
        rules = len(re.findall(r"^rule \w+:", text, flags=re.M))
        envs = re.findall(r'conda:\s*\n\s*"\.\./\.\./envs/([\w.]+)"', text)
        assert len(envs) == rules, f"{smk.name}: {rules} rules but {len(envs)} conda: directives"
        named.update(envs)
    assert named == {p.name for p in ENVS}
