"""Figures and the HTML report, from synthetic result tables (no browser: see tests/workflow)."""

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import synthetic_results as fx  # noqa: E402

from hybrid_retrieval.analysis.aggregate import aggregate  # noqa: E402
from hybrid_retrieval.claims import evaluate_claims  # noqa: E402
from hybrid_retrieval.errors import ConfigError  # noqa: E402
from hybrid_retrieval.report.captions import FIGURE_CAPTIONS  # noqa: E402
from hybrid_retrieval.report.figures import build_figures, chart_spec, write_figures  # noqa: E402
from hybrid_retrieval.report.render import read_benchmarks, render_report  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    fx.write_synthetic_results(root / "results", trials_per_cell=12, mmlu_per_subject=50)  # decisive
    aggregate(root / "results", root / "tables")
    fx.write_attention_maps(root / "results", root / "tables")  # rule summarize_attention_maps, not aggregate
    evaluate_claims(root / "tables", root / "claims.csv")
    bench = root / "logs" / "run_retrieval_trials" / "toy-jamba"
    bench.mkdir(parents=True)
    (bench / "baseline.benchmark.tsv").write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t300.5\n")
    (root / "logs" / "notes.tsv").write_text("a\tb\n1\t2\n")  # not a benchmark file: ignored
    return root


def test_every_figure_is_built_and_validates(run):
    charts = build_figures(run / "tables")
    assert list(charts) == list(FIGURE_CAPTIONS)
    for chart in charts.values():
        spec = chart_spec(chart)  # raises on a schema violation
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")


def test_figures_skip_absent_data(tmp_path):
    fx.write_synthetic_results(tmp_path / "results", experiments=("baseline",), mmlu=False, heads=False)
    aggregate(tmp_path / "results", tmp_path / "tables")
    assert list(build_figures(tmp_path / "tables")) == ["heatmaps_baseline", "ablation_bars"]


def test_write_figures_formats(run, tmp_path):
    written = write_figures(run / "tables", tmp_path, formats=("vl.json", "svg", "pdf"))
    assert len(written) == 3 * len(FIGURE_CAPTIONS)
    assert (tmp_path / "exposure_grid.svg").read_text().lstrip().startswith("<svg")
    assert (tmp_path / "exposure_grid.pdf").read_bytes().startswith(b"%PDF")
    assert json.loads((tmp_path / "ablation_bars.vl.json").read_text())["facet"]
    with pytest.raises(ConfigError, match="png"):
        write_figures(run / "tables", tmp_path, formats=("png",))


def test_read_benchmarks(run):
    df = read_benchmarks(run / "logs")
    assert df["job"].to_list() == ["run_retrieval_trials/toy-jamba/baseline"]
    assert df["seconds"].to_list() == [12.5] and df["max_rss_mb"].to_list() == [300.5]
    assert read_benchmarks(None).is_empty()


def test_report_is_self_contained_and_escapes_config(run):
    config = {"models": ["toy-jamba"], "note": "<script>alert('x')</script>", "seed": 0}
    out = render_report(
        tables_dir=run / "tables",
        claims_csv=run / "claims.csv",
        config=config,
        benchmarks_dir=run / "logs",
        out_html=run / "report" / "index.html",
    )
    html = out.read_text()
    # The config value is shown escaped, never as a live element.
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    # Claims come before the figures; every claim row is there with its status.
    assert html.index('id="claims-table"') < html.index('id="figures"')
    assert html.count('class="status-PASS"') == 12  # 6 claims (5 split in 5a/5b) x 2 models
    # One embedded spec per figure, each valid JSON, and no network reference to a script or style.
    specs = re.findall(r'<script type="application/json" id="spec-([a-z_]+)">(.*?)</script>', html, re.S)
    assert [name for name, _ in specs] == list(FIGURE_CAPTIONS)
    for _, text in specs:
        json.loads(text)
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=\"http", html)
    assert "window.vegaEmbed" in html
    # Provenance: versions, runtimes.
    assert "polars" in html and "run_retrieval_trials/toy-jamba/baseline" in html and "12.5" in html


def test_report_with_no_results(tmp_path):
    (tmp_path / "results").mkdir()
    aggregate(tmp_path / "results", tmp_path / "tables")
    evaluate_claims(tmp_path / "tables", tmp_path / "claims.csv")
    out = render_report(
        tables_dir=tmp_path / "tables",
        claims_csv=tmp_path / "claims.csv",
        config={},
        benchmarks_dir=None,
        out_html=tmp_path / "index.html",
    )
    html = out.read_text()
    assert "No figure has data in this run." in html and "NOT RUN" in html


def test_report_shows_criteria_protocol_and_deviations(run, tmp_path):
    import yaml

    from hybrid_retrieval.report.deviations import DEVIATIONS

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "config.yaml").read_text())
    config["claims"] = {**config.get("claims", {}), "jrt_tolerance": 0.07}
    config["claims"].pop("mmlu_k", None)
    config["retrieval"]["scoring"] = "word_lcs"
    out = render_report(
        tables_dir=run / "tables",
        claims_csv=run / "claims.csv",
        config=config,
        benchmarks_dir=None,
        out_html=tmp_path / "index.html",
    )
    html = out.read_text()
    assert 'id="criteria-table"' in html and "standard-prompt exact rate on the same haystacks lies at or below 7.0%" in html  # from this config
    assert "<code>retrieval.scoring</code></td><td>word_lcs" in html
    assert html.count("<tr><td>", html.index('id="deviations-table"')) >= len(DEVIATIONS)
