"""requirements/lock.txt (make lock-deps): every distribution the venv holds, exact and hashed.

The lock agrees with pyproject.toml's pins (direct and the extras test and slurm) and with the pip pins of
the conda env files under envs/; every entry carries a sha256 hash (the Makefile installs it with
--require-hashes); and a venv that `make` built from it holds exactly the lock's distributions.
"""

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from hybrid_retrieval.infra.provenance import REPORTED_PACKAGES, canonical_name, installed_distributions

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "lock.txt"
PROJECT = "hybrid-retrieval"
# Installed by the venv itself or the Makefile's pip upgrade, not by the lock (unless it names them).
INSTALLER_TOOLS = {"pip", "setuptools", "wheel"}

_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})\b")


def lock_entries(text: str) -> dict[str, tuple[str, list[str]]]:
    """canonical name -> (version, sha256 hashes) of a pip-compile --generate-hashes file."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in text.splitlines():
        entry = _ENTRY.match(line)
        if entry:
            current = canonical_name(entry.group(1))
            if current in entries:
                raise ValueError(f"{entry.group(1)} is locked twice")
            entries[current] = (entry.group(2), [])
        elif current is not None and line.startswith((" ", "\t")):
            entries[current][1].extend(_HASH.findall(line))
        elif line.strip() and not line.lstrip().startswith("#"):
            raise ValueError(f"unexpected line in the lock: {line!r}")
    return entries


def pin_mismatches(pins: list[str], locked: dict[str, tuple[str, list[str]]]) -> list[str]:
    """The exact pins (``name==version``) that the lock lacks or locks at another version. A local version
    label in the lock (torch ``2.13.0+cpu``) matches the pin ``==2.13.0``, as pip itself compares them."""
    problems = []
    for pin in pins:
        req = Requirement(pin)
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==":
            problems.append(f"{pin}: not an exact pin")
            continue
        name = canonical_name(req.name)
        if name not in locked:
            problems.append(f"{pin}: not in the lock")
        elif not req.specifier.contains(Version(locked[name][0]), prereleases=True):
            problems.append(f"{pin}: locked at {locked[name][0]}")
    return problems


def pyproject_pins() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    return project["dependencies"] + extras["test"] + extras["slurm"]


def conda_pip_pins(path: Path) -> list[str]:
    pins = []
    for dep in yaml.safe_load(path.read_text(encoding="utf-8"))["dependencies"]:
        if isinstance(dep, dict):
            pins.extend(dep.get("pip", []))
    return pins


@pytest.fixture(scope="module")
def locked():
    return lock_entries(LOCK.read_text(encoding="utf-8"))


def test_every_pyproject_pin_is_locked_at_its_version(locked):
    pins = pyproject_pins()
    assert len(pins) > 20
    assert pin_mismatches(pins, locked) == []


def test_every_lock_entry_has_a_sha256_hash(locked):
    assert len(locked) > 100  # the transitive closure, not the direct pins alone
    assert [name for name, (_, hashes) in locked.items() if not hashes] == []


def test_torch_is_the_cpu_wheel(locked):
    # The local CPU wheel (pip's find-links) or TORCH_INDEX's CPU build; PyPI's Linux wheel is the CUDA one.
    assert locked["torch"][0] == "2.13.0+cpu"


def test_conda_env_pins_equal_the_lock(locked):
    env_files = sorted((ROOT / "envs").glob("*.yaml"))
    assert env_files
    for path in env_files:
        pins = conda_pip_pins(path)
        assert pins, f"{path.name} has no pip pins"
        assert pin_mismatches(pins, locked) == [], path.name


def test_the_checks_catch_a_drifted_lock():
    text = "numpy==2.4.6 \\\n    --hash=sha256:" + "a" * 64 + "\n    # via pandas\nscipy==1.17.1\n"
    doctored = lock_entries(text)
    assert doctored == {"numpy": ("2.4.6", ["a" * 64]), "scipy": ("1.17.1", [])}
    assert pin_mismatches(["numpy==2.4.7", "PyYAML==6.0.4", "scipy>=1", "numpy==2.4.6"], doctored) == [
        "numpy==2.4.7: locked at 2.4.6",
        "PyYAML==6.0.4: not in the lock",
        "scipy>=1: not an exact pin",
    ]
    assert pin_mismatches(["torch==2.13.0"], {"torch": ("2.13.0+cpu", [])}) == []
    assert pin_mismatches(["torch==2.13.0+cpu"], {"torch": ("2.13.0", [])}) != []
    with pytest.raises(ValueError, match="locked twice"):
        lock_entries("numpy==2.4.6\nNumPy==2.4.6\n")


@pytest.mark.skipif(
    not (Path(sys.prefix) / ".installed").is_file(),
    reason="not a venv that `make` installed from the lock (no <venv>/.installed)",
)
def test_the_venv_holds_exactly_the_lock(locked):
    want = {f"{name}=={version}" for name, (version, _) in locked.items()}
    skip = {PROJECT} | (INSTALLER_TOOLS - locked.keys())
    have = {line for line in installed_distributions() if line.split("==")[0] not in skip}
    assert sorted(have - want) == [] and sorted(want - have) == []


def test_provenance_lists_every_distribution_sorted_once():
    lines = installed_distributions()
    names = [line.split("==")[0] for line in lines]
    assert names == sorted(set(names)) and all(name == canonical_name(name) for name in names)
    assert (
        f"numpy=={metadata.version('numpy')}" in lines
        and f"pydantic=={metadata.version('pydantic')}" in lines
    )
    assert len(lines) > len(REPORTED_PACKAGES)
