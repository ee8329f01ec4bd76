"""What a reader of the report and the paper saw wrong (issue 25): no word that the models are toys, raw
Markdown backticks in the deviations table, the JRT heatmaps wider than the page, the paper's head maps
unreadable at page width with a caption in another order, retrieval and MC retention on one y axis."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import polars as pl
import pytest
import vl_convert as vlc
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import synthetic_results as fx  # noqa: E402

from hybrid_retrieval.analysis.aggregate import aggregate  # noqa: E402
from hybrid_retrieval.claims import evaluate_claims  # noqa: E402
from hybrid_retrieval.report.captions import FIGURE_CAPTIONS, HEAD_METRICS  # noqa: E402
from hybrid_retrieval.report.deviations import DEVIATIONS  # noqa: E402
from hybrid_retrieval.report.figures import (  # noqa: E402
    REPORT_WIDTH,
    RETENTION_MEASURE,
    RETRIEVAL_MEASURE,
    VL_VERSION,
    build_figures,
    chart_spec,
    head_score_maps,
    retrieval_heatmaps,
)
from hybrid_retrieval.report.render import code_spans, render_report  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
# The paper's page (article 10pt, letter, 2.2 cm margins) and its figures' box (latex.figures_tex).
PAPER_WIDTH_PT, PAPER_FIGURE_HEIGHT_PT = 487, 0.4 * 667


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    fx.write_synthetic_results(root / "results")
    aggregate(root / "results", root / "tables")
    evaluate_claims(root / "tables", root / "claims.csv")
    return root


def _html(run: Path, tmp_path: Path, config: dict) -> str:
    out = render_report(
        tables_dir=run / "tables",
        claims_csv=run / "claims.csv",
        config=config,
        benchmarks_dir=None,
        out_html=tmp_path / "index.html",
    )
    return out.read_text()


def _size(spec: dict) -> tuple[float, float]:
    svg = vlc.vegalite_to_svg(spec, vl_version=VL_VERSION)
    width, height = re.search(r'<svg[^>]* width="([\d.]+)" height="([\d.]+)"', svg).groups()
    return float(width), float(height)


def test_the_headline_says_the_models_are_toys(run, tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    html = _html(run, tmp_path, config)
    head = html[: html.index('id="claims"')]
    assert 'id="toy-banner"' in head and "toy-jamba, toy-recurrent-gemma" in head
    assert "Claims on toy models:" in head
    # A run of real models has no banner and a plain headline.
    config["models"] = {"jamba": {"source": "local", "path": "/models/jamba"}}
    html = _html(run, tmp_path, config)
    assert 'id="toy-banner"' not in html and "Claims: " in html


def test_deviations_render_markdown_code_spans(run, tmp_path):
    assert str(code_spans("`a<b` and `c`")) == "<code>a&lt;b</code> and <code>c</code>"
    html = _html(run, tmp_path, {})
    table = html[html.index('id="deviations-table"') : html.index('id="runtimes"')]
    with_code = [d for d in DEVIATIONS if "`" in d.what + d.authors + d.ours + d.effect]
    assert with_code  # the list does use code spans, so the check below can fail
    assert "`" not in table and "<code>RecurrentGemmaForCausalLM</code>" in table


def test_jrt_heatmaps_fit_the_report_width(run):
    cells = pl.read_parquet(run / "tables" / "retrieval_cells.parquet")
    jrt = cells.filter(pl.col("experiment") == "jrt")
    # Many conditions (k = 0..7, two prompts each: 16 panels) still fit, the panels narrower.
    many = pl.concat([jrt.with_columns(pl.col("condition") + f"-{i}") for i in range(8)])
    for table in (jrt, many):
        width, _ = _size(chart_spec(retrieval_heatmaps(table, "jrt")))
        assert width <= REPORT_WIDTH, width


def test_head_maps_read_at_page_width_in_caption_order(run):
    charts = build_figures(run / "tables")
    spec = chart_spec(charts["head_maps"])
    width, height = _size(spec)
    scale = min(1.0, PAPER_WIDTH_PT / width, PAPER_FIGURE_HEIGHT_PT / height)
    assert 10 * scale >= 8, (width, height)  # 10 px labels print at 8 pt or more
    rows = [row["title"]["text"] for row in spec["vconcat"]]
    assert rows == list(HEAD_METRICS.values())  # top to bottom
    caption = FIGURE_CAPTIONS["head_maps"]
    positions = [caption.index(title) for title in HEAD_METRICS.values()]
    assert positions == sorted(positions)  # the caption names them in the same order


def test_head_maps_skip_an_unmeasured_metric(run):
    heads = pl.read_parquet(run / "tables" / "heads.parquet").with_columns(ablation_drop=pl.lit(None))
    spec = chart_spec(head_score_maps(heads))
    assert [row["title"]["text"] for row in spec["vconcat"]] == list(HEAD_METRICS.values())[:3]


def test_retrieval_and_retention_have_separate_y_axes(run):
    spec = chart_spec(build_figures(run / "tables")["sparsity_tradeoff"])
    assert spec["facet"]["row"]["field"] == "measure" and spec["resolve"]["scale"]["y"] == "independent"
    measures = {row["measure"] for row in spec["data"]["values"]} if "values" in spec.get("data", {}) else None
    measures = measures or {r["measure"] for d in spec["datasets"].values() for r in d}
    assert measures == {RETRIEVAL_MEASURE, RETENTION_MEASURE}
