"""results/provenance.json and the report's Provenance section (with the reference check's verdict)."""

import json
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import synthetic_results as fx  # noqa: E402

from hybrid_retrieval.analysis.aggregate import aggregate  # noqa: E402
from hybrid_retrieval.artifact.reference import write_comparison  # noqa: E402
from hybrid_retrieval.claims import evaluate_claims  # noqa: E402
from hybrid_retrieval.infra.numerics import cpu_model  # noqa: E402
from hybrid_retrieval.infra.provenance import collect_provenance, write_provenance  # noqa: E402
from hybrid_retrieval.report.render import render_report  # noqa: E402


def test_provenance_records_machine_kernels_numerics_and_toys(tmp_path):
    toy = tmp_path / "toy-jamba"
    toy.mkdir()
    (toy / "toy_metadata.json").write_text(json.dumps({"weights_sha256": "f" * 64, "train_cpu_seconds": 1.5}))
    p = collect_provenance(
        {"numerics": "native"}, model_dirs={"toy-jamba": toy, "hub-model": tmp_path / "none"}
    )
    assert p["machine"]["cpu_model"] == cpu_model() and p["machine"]["architecture"] == platform.machine()
    assert p["machine"]["python"].endswith(platform.python_version())
    assert p["torch"]["version"] == torch.__version__
    assert p["torch"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert p["torch"]["threads"] == torch.get_num_threads()
    if torch.backends.mkl.is_available():  # the pip wheels for x86-64: MKL and oneDNN versions from the build
        assert p["torch"]["blas"] == "mkl" and p["torch"]["mkl"] and p["torch"]["onednn"].startswith("v")
    assert p["numerics"]["mode"] == "native" and "MKL_CBWR" in p["numerics"]["environment"]
    assert p["packages"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert p["models"] == {
        "toy-jamba": {"weights_sha256": "f" * 64, "train_cpu_seconds": 1.5, "torch_version": None}
    }
    assert p["config"] == {"numerics": "native"} and p["git_commit"]


def test_report_shows_provenance_and_the_reference_verdict(tmp_path):
    results = tmp_path / "results"
    fx.write_synthetic_results(results)
    aggregate(results, results / "tables")
    evaluate_claims(results / "tables", results / "claims.csv")
    write_provenance({"numerics": "portable"}, results / "provenance.json")
    (tmp_path / "reference").mkdir()
    write_comparison(results, tmp_path / "reference", results / "reference_check.json")
    html = render_report(
        tables_dir=results / "tables",
        claims_csv=results / "claims.csv",
        config={"numerics": "portable"},
        benchmarks_dir=None,
        out_html=tmp_path / "index.html",
        provenance=results / "provenance.json",
        reference_check=results / "reference_check.json",
    ).read_text()
    section = html[html.index('<h2 id="provenance">') : html.index('<h2 id="versions">')]
    assert 'data-status="no_reference"' in section and "no reference committed yet" in section
    assert cpu_model() in section and torch.backends.cpu.get_cpu_capability() in section
    assert "instruction set in use" in section and "numerics</th><td>portable" in section


def test_report_without_provenance_says_so(tmp_path):
    results = tmp_path / "results"
    fx.write_synthetic_results(results, experiments=("baseline",), mmlu=False, heads=False)
    aggregate(results, results / "tables")
    evaluate_claims(results / "tables", results / "claims.csv")
    html = render_report(
        tables_dir=results / "tables",
        claims_csv=results / "claims.csv",
        config={},
        benchmarks_dir=None,
        out_html=tmp_path / "index.html",
    ).read_text()
    assert "No provenance file was recorded" in html and 'data-status="not-run"' in html
