"""Reference outputs: refresh from a finished run, then the check says identical, or what differs, or that
there is no reference (never a pass). Synthetic tables stand in for a run."""

import csv
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import synthetic_results as fx  # noqa: E402

from hybrid_retrieval.analysis.aggregate import aggregate  # noqa: E402
from hybrid_retrieval.artifact.reference import (  # noqa: E402
    NO_REFERENCE,
    compare_reference,
    format_comparison,
    main,
    refresh_reference,
)
from hybrid_retrieval.claims import evaluate_claims  # noqa: E402
from hybrid_retrieval.errors import DataError  # noqa: E402

WEIGHTS = {"toy-jamba": "a" * 64, "toy-recurrent-gemma": "b" * 64}
CONFIG = {"numerics": "portable", "retrieval": {"context_lengths": [64, 128, 256], "seed": 0}}


def write_run(results: Path, *, numerics: str = "portable", weights=WEIGHTS, config=CONFIG) -> Path:
    """A finished run: per-trial rows -> tables -> claims.csv, and the provenance.json of its jobs."""
    fx.write_synthetic_results(results)
    aggregate(results, results / "tables")
    evaluate_claims(results / "tables", results / "claims.csv")
    provenance = {
        "git_commit": "0123abc",
        "numerics": {"mode": numerics, "effective": numerics, "reason": "test", "environment": {}},
        "torch": {"version": "2.13.0+cpu", "cpu_capability": "AVX2"},
        "machine": {"cpu_model": "test CPU"},
        "models": {name: {"weights_sha256": digest} for name, digest in weights.items()},
        "config": config,
    }
    (results / "provenance.json").write_text(json.dumps(provenance))
    return results


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    run = write_run(root / "results")
    (root / "reference").mkdir()
    (root / "reference" / "README.md").write_text("kept\n")
    manifest = refresh_reference(run, root / "reference")
    return root / "reference", manifest


def test_refresh_writes_the_files_and_a_manifest(reference):
    ref, manifest = reference
    assert (ref / "README.md").read_text() == "kept\n"
    assert json.loads((ref / "weights.json").read_text()) == WEIGHTS
    tables = sorted(p.name for p in (ref / "tables").glob("*.csv"))
    assert "retrieval_summary.csv" in tables and "claims.csv" in manifest["files"]
    assert set(manifest["files"]) == {
        "claims.csv",
        "weights.json",
        "config.json",
        *(f"tables/{t}" for t in tables),
    }
    assert manifest["numerics"] == "portable" and manifest["git_commit"] == "0123abc"


def test_an_identical_run_is_identical(reference, tmp_path):
    ref, _ = reference
    result = compare_reference(write_run(tmp_path / "results"), ref)
    assert result["status"] == "identical", format_comparison(result)
    assert format_comparison(result).startswith("reference check: identical (")
    assert main(["check", "--results", str(tmp_path / "results"), "--reference", str(ref)]) == 0


def test_a_changed_row_and_weight_hash_are_named(reference, tmp_path, capsys):
    ref, _ = reference
    run = write_run(tmp_path / "results", weights={**WEIGHTS, "toy-jamba": "c" * 64})
    path = run / "tables" / "retrieval_summary.csv"
    rows = list(csv.reader(path.open(newline="")))
    column = rows[0].index("exact_rate")
    rows[3][column] = "0.123"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    result = compare_reference(run, ref)
    assert result["status"] == "different"
    assert [w["model"] for w in result["weights"] if w["status"] != "identical"] == ["toy-jamba"]
    changed = [f for f in result["files"] if f["status"] != "identical"]
    assert [f["file"] for f in changed] == ["tables/retrieval_summary.csv"]
    assert changed[0]["rows_only_in_run"] == changed[0]["rows_only_in_reference"] == 1
    assert "0.123" in changed[0]["run_rows"][0] and "0.123" not in changed[0]["reference_rows"][0]
    assert main(["check", "--results", str(run), "--reference", str(ref)]) == 1
    out = capsys.readouterr().out
    assert "weights toy-jamba" in out and "tables/retrieval_summary.csv: 1 row(s) only in the run" in out
    assert "+ run:" in out and "- reference:" in out


def test_missing_and_extra_files_and_config_differences(reference, tmp_path):
    ref, _ = reference
    run = write_run(tmp_path / "results", config={**CONFIG, "numerics": "native"})
    (run / "tables" / "heads.csv").unlink()
    (run / "tables" / "new_table.csv").write_text("a\n1\n")
    result = compare_reference(run, ref)
    verdicts = {f["file"]: f["status"] for f in result["files"] if f["status"] != "identical"}
    assert verdicts == {"tables/heads.csv": "missing in run", "tables/new_table.csv": "not in reference"}
    assert (
        result["config_differences"] == ["numerics"] and "differs from the reference's" in result["summary"]
    )


def test_no_reference_is_never_a_pass(tmp_path, capsys):
    run = write_run(tmp_path / "results")
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "README.md").write_text("how to produce it\n")
    result = compare_reference(run, tmp_path / "reference")
    assert result["status"] == "no_reference" and NO_REFERENCE in result["summary"]
    assert main(["check", "--results", str(run), "--reference", str(tmp_path / "reference")]) == 2
    assert "no reference committed yet" in capsys.readouterr().out


def test_refresh_refuses_native_numerics_and_unfinished_runs(tmp_path):
    run = write_run(tmp_path / "native", numerics="native")
    with pytest.raises(DataError, match="portable numerics"):
        refresh_reference(run, tmp_path / "reference")
    with pytest.raises(DataError, match="does not exist"):
        refresh_reference(tmp_path / "nothing", tmp_path / "reference")
    assert not (tmp_path / "reference" / "MANIFEST.json").exists()
