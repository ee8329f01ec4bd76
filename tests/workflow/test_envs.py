"""Per-rule conda envs: every package pinned to exactly one version, pip pins equal pyproject.toml's,
the package itself never installed by path, and every env a rule names exists."""

from __future__ import annotations

import os
import re
import sys
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
        # an environment marker (the GPU kernels extra: Linux x86-64 only) does not change the pin
        match = PIN.match(dep.split(";", 1)[0].strip())
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


# ------------------------------------------------ the envs' pip sections, each in a fresh virtualenv
# `--sdm conda` cannot be solved here (no conda channels); what can be checked is the pip part: each env
# file's pip packages go into their own uv-built virtualenv, and in that env alone every module the env's
# rules' scripts import (the scripts' own imports plus the hybrid_retrieval modules they reach, as
# workflow_support.code_digest finds them) must import, with src/ on sys.path as the scripts put it. The
# package is not installed there, so a reliance on its installed metadata fails too.

RULE_BLOCK = re.compile(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", flags=re.M | re.S)
SELF_METADATA = re.compile(r"""(version|distribution|metadata)\(\s*["']hybrid[-_]retrieval["']\s*\)""")


def _rules_by_env() -> dict[str, dict[str, Path]]:
    """env file name -> {rule: script path}."""
    found: dict[str, dict[str, Path]] = {}
    for smk in sorted((REPO / "workflow/rules").glob("*.smk")):
        for name, body in RULE_BLOCK.findall(smk.read_text()):
            env = re.search(r'conda:\s*\n\s*"\.\./\.\./envs/([\w.]+)"', body)
            script = re.search(r'script:\s*\n\s*"([^"]+)"', body)
            if env and script:
                found.setdefault(env.group(1), {})[name] = (smk.parent / script.group(1)).resolve()
    return found


def _imports_of(path: Path) -> set[str]:
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _env_imports(scripts: list[Path]) -> tuple[list[str], list[Path]]:
    """(the modules the scripts import at their top, the package files those can reach: for the
    installed-metadata check) for the scripts of one env."""
    from hybrid_retrieval.infra.workflow_support import module_closure

    modules: set[str] = set()
    for script in scripts:
        modules.update(_imports_of(script))
    if "_job" in modules:  # workflow/scripts/_job.py, the scripts' shared opening: what it imports instead
        modules.discard("_job")
        modules.update(_imports_of(REPO / "workflow" / "scripts" / "_job.py"))
    stdlib = set(sys.stdlib_module_names)
    modules = {m for m in modules if m.split(".")[0] not in stdlib}
    package = tuple(sorted(m for m in modules if m.split(".")[0] == "hybrid_retrieval"))
    return sorted(modules), list(module_closure(package))


# Functions of modules an env loads that none of its rules calls: their lazy imports are not needed there.
# report.yaml has no torch; only record_provenance (torch.yaml) collects the torch build and numerics
# state; the essays are downloaded (pooch) only by download_haystack in report.yaml.
# tests/unit/test_layering.py runs the report env's modules with torch blocked.
NOT_CALLED_IN_ENV = {
    "report.yaml": {("hybrid_retrieval.infra.numerics", "numerics_state"), ("hybrid_retrieval.infra.provenance", "torch_build")},
    # the model jobs read the essays download_haystack (report.yaml, with pooch) has written
    "torch.yaml": {("hybrid_retrieval.tasks.haystack", "fetch_files")},
}

# Runs inside the env: import what the scripts import; then, for every package module that got loaded,
# the third-party modules its functions import lazily (transformers, huggingface_hub, datasets, ...).
IN_ENV = """
import ast, importlib, sys
sys.path.insert(0, SRC)
failed = []
def attempt(m):
    try:
        importlib.import_module(m)
    except Exception as e:
        failed.append(f"{m}: {type(e).__name__}: {e}")
for m in MODULES:
    attempt(m)
stdlib = set(sys.stdlib_module_names)
for name, mod in sorted(sys.modules.items()):
    if not name.startswith("hybrid_retrieval") or not getattr(mod, "__file__", None):
        continue
    tree = ast.parse(open(mod.__file__, encoding="utf-8").read())
    for fn in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
               and [name, n.name] not in [list(x) for x in NOT_CALLED]):
        # An import the function guards with importlib.util.find_spec("name") is optional (numerics: torch).
        optional = {c.args[0].value for c in ast.walk(fn) if isinstance(c, ast.Call)
                    and getattr(c.func, "attr", None) == "find_spec" and c.args
                    and isinstance(c.args[0], ast.Constant)}
        for node in ast.walk(fn):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for n in names:
                if n.split(".")[0] not in stdlib and n.split(".")[0] != "hybrid_retrieval" and n not in optional:
                    attempt(n)
print("\\n".join(sorted(set(failed))))
sys.exit(1 if failed else 0)
"""


def _uv_env(path: Path, dest: Path) -> Path:
    """A fresh virtualenv with exactly the env file's pip packages (and what they depend on)."""
    import subprocess

    uv = Path(sys.executable).with_name("uv")
    if not uv.exists():
        pytest.skip("uv is not installed (it is in the [test] extra)")
    subprocess.run([str(uv), "venv", "-q", "-p", sys._base_executable, str(dest)], check=True)
    extra: list[str] = []
    for var, flag in (("PIP_FIND_LINKS", "--find-links"), ("PIP_EXTRA_INDEX_URL", "--extra-index-url")):
        for value in os.environ.get(var, "").split():
            extra += [flag, value]
    pip_conf = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    ).stdout
    for key, flag in (("find-links", "--find-links"), ("extra-index-url", "--extra-index-url")):
        for line in pip_conf.splitlines():
            if line.split("=", 1)[0].endswith(f".{key}"):
                extra += [x for value in line.split("=", 1)[1].strip("'\"").split() for x in (flag, value)]
    _, pip = _env(path)
    pairs = list(dict.fromkeys(zip(extra[::2], extra[1::2], strict=True)))  # pip's own local mirrors, once
    if pairs:  # they mirror PyPI: take the best match over all of them (uv's default is the first index)
        extra = [x for pair in pairs for x in pair] + ["--index-strategy", "unsafe-best-match"]
    subprocess.run(
        [str(uv), "pip", "install", "-q", "--python", str(dest / "bin/python"), *extra, *pip],
        check=True,
        timeout=1200,
    )
    return dest / "bin/python"


@pytest.mark.slow
@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_env_pip_section_runs_its_rules_scripts(path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    import subprocess

    scripts = sorted(set(_rules_by_env().get(path.name, {}).values()))
    assert scripts, f"no rule uses {path.name}"
    modules, files = _env_imports(scripts)
    for f in files:
        match = SELF_METADATA.search(f.read_text())
        assert not match, (
            f"{f.relative_to(REPO)} reads the installed package's metadata ({match.group(0)}); the per-rule envs "
            "do not install the package: use hybrid_retrieval.__version__"
        )
    python = _uv_env(path, tmp_path_factory.mktemp("env") / path.stem)
    skip = sorted(NOT_CALLED_IN_ENV.get(path.name, ()))
    code = f"SRC = {str(REPO / 'src')!r}\nMODULES = {modules!r}\nNOT_CALLED = {skip!r}\n" + IN_ENV
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (
        f"{path.name}: modules that do not import in its env:\n{proc.stdout}{proc.stderr[-2000:]}"
    )
