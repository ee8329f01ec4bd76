"""The reference check from the command line and make: a config that does not exist is an error (before,
`make check-reference CONFIG=<typo>` checked the default run and said "identical", exit 0); reference/ and
the run are found from the repository, not the working directory (before, from a subfolder the check said
no reference exists); ARTIFACT.md's expected verdicts are generated from reference/claims.csv."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_reference import write_run  # noqa: E402

from hybrid_retrieval.artifact.reference import (  # noqa: E402
    VERDICTS_BEGIN,
    VERDICTS_END,
    expected_verdicts,
    main,
    refresh_reference,
    repository_root,
    sync_artifact,
)
from hybrid_retrieval.artifact.run_summary import claims_table, summary  # noqa: E402
from hybrid_retrieval.errors import DataError  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A reference refreshed from a synthetic finished run."""
    root = tmp_path_factory.mktemp("reference")
    (root / "reference").mkdir()
    refresh_reference(write_run(root / "results"), root / "reference")
    return root / "reference"


def _checkout(root: Path, ref: Path) -> Path:
    """A checkout: Snakefile, config/ (the default and smoke configs), reference/ and a finished default run."""
    (root / "config").mkdir(parents=True)
    (root / "Snakefile").write_text("# workflow\n")
    for name in ("config.yaml", "smoke.yaml"):
        shutil.copy(REPO / "config" / name, root / "config" / name)
    shutil.copytree(ref, root / "reference")
    write_run(root / "results")
    (root / "docs" / "deep").mkdir(parents=True)
    return root


def test_a_missing_config_is_an_error_not_the_default_run(reference, tmp_path, monkeypatch, capsys):
    root = _checkout(tmp_path / "repo", reference)
    monkeypatch.chdir(root)
    assert main(["check"]) == 0  # the default run is identical to the reference
    capsys.readouterr()
    assert main(["check", "--config", "config/typo.yaml"]) == 2
    err = capsys.readouterr().err
    assert "config/typo.yaml does not exist" in err and "CONFIG=config/config.yaml" in err
    assert main(["check", "--config", "config/typo.yaml", "--results", "results"]) == 2
    # A config naming its run is checked in runs/<run>/results, which has not run: an error, exit 2.
    assert main(["check", "--config", "config/smoke.yaml"]) == 2
    assert "runs/smoke/results" in capsys.readouterr().err


def test_the_checkout_is_found_from_a_subfolder(reference, tmp_path, monkeypatch, capsys):
    root = _checkout(tmp_path / "repo", reference)
    monkeypatch.chdir(root / "docs" / "deep")
    assert repository_root() == root.resolve()
    assert main(["check"]) == 0
    assert capsys.readouterr().out.startswith("reference check: identical (")
    assert main(["check", "--config", str(root / "config" / "config.yaml")]) == 0


def test_outside_a_checkout_the_error_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("hybrid_retrieval.artifact.reference.__file__", str(tmp_path / "a" / "b" / "reference.py"))
    assert main(["check"]) == 2
    assert "no hybrid-retrieval checkout" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_make_refuses_a_missing_config_before_anything_else() -> None:
    for target in ("check-reference", "reference", "reproduce", "lock"):
        proc = subprocess.run(
            ["make", "-C", str(REPO), target, "CONFIG=config/typo.yaml"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2, (target, proc.stdout, proc.stderr)
        assert "CONFIG=config/typo.yaml: no such config file; pass an existing one: config/config.yaml" in proc.stderr, target
        assert "pip install" not in proc.stdout  # refused before the install step or any job


CLAIMS = (
    "claim_id,claim,model,estimate,status,detail\n"
    '1,"ablation, k = 0",toy-b,0.0,PASS,"a, b"\n'
    "1,ablation,toy-a,0.1,FAIL,x\n"
    "2,jrt,toy-b,0.2,FAIL,x\n"
    "3,sparsity,toy-b,0.3,PASS,x\n"
    "5a,hidden,toy-b,0.0,PASS,x\n"
    "5b,context,toy-b,,INCONCLUSIVE,x\n"
    "5b,context,toy-a,,NOT RUN,x\n"
)


def test_expected_verdicts_from_any_claims_columns(tmp_path):
    path = tmp_path / "claims.csv"
    path.write_text(CLAIMS)
    assert expected_verdicts(path) == (
        "- `toy-b`: claims 1, 3 and 5a PASS; claim 2 FAIL; claim 5b INCONCLUSIVE.\n"
        "- `toy-a`: claim 1 FAIL; claim 5b NOT RUN."
    )
    path.write_text("claim_id,model,verdict\n1,toy-a,PASS\n")
    with pytest.raises(DataError, match=r"no column\(s\) \['status'\]"):
        expected_verdicts(path)


def test_sync_artifact_rewrites_only_its_block(tmp_path):
    claims = tmp_path / "claims.csv"
    claims.write_text(CLAIMS)
    artifact = tmp_path / "ARTIFACT.md"
    artifact.write_text(f"before\n{VERDICTS_BEGIN}\n- `toy-b`: claims 1 and 2 PASS.\n{VERDICTS_END}\nafter\n")
    assert sync_artifact(artifact, claims, check=True) is False
    assert sync_artifact(artifact, claims, check=False) is False
    text = artifact.read_text()
    assert text.startswith("before\n") and text.endswith("\nafter\n") and "claim 2 FAIL" in text
    assert sync_artifact(artifact, claims, check=True) is True


def test_artifact_states_the_reference_verdicts():
    # Fails when reference/claims.csv changes without `hybrid-retrieval artifact-verdicts`
    # (make reference runs it), as the hand-written list did (Jamba claim 2 said PASS, the reference FAIL).
    assert sync_artifact(REPO / "ARTIFACT.md", REPO / "reference" / "claims.csv", check=True), (
        "ARTIFACT.md's expected verdicts differ from reference/claims.csv: "
        "run hybrid-retrieval artifact-verdicts"
    )


def test_run_summary_prints_the_claims_table_of_the_configs_run(reference, tmp_path):
    root = _checkout(tmp_path / "repo", reference)
    text = summary(root / "config" / "config.yaml", root)
    assert f"Report: {root / 'results' / 'report' / 'index.html'}" in text
    table = claims_table(root / "results" / "claims.csv").splitlines()
    assert table[0].split()[:3] == ["claim_id", "model", "status"] and set(table[1]) == {"-", " "}
    assert text.endswith("\n".join(table)) and len(table) > 2
    with pytest.raises(DataError, match="runs/smoke/results/claims.csv does not exist"):
        summary(root / "config" / "smoke.yaml", root)
