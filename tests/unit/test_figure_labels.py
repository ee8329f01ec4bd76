"""Figure labels print in full (no truncated legends) and name what they show (report/figures.py)."""

import sys
from pathlib import Path

import pytest
import vl_convert as vlc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import synthetic_results as fx  # noqa: E402

from hybrid_retrieval.analysis.aggregate import aggregate  # noqa: E402
from hybrid_retrieval.report.figures import HEAD_METRICS, VL_VERSION, build_figures, chart_spec  # noqa: E402


@pytest.fixture(scope="module")
def charts(tmp_path_factory):
    root = tmp_path_factory.mktemp("figures")
    fx.write_synthetic_results(root / "results")
    aggregate(root / "results", root / "tables")
    return build_figures(root / "tables")


def _legends(node):
    """Every `legend` object in a Vega-Lite spec."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "legend" and isinstance(value, dict):
                yield value
            yield from _legends(value)
    elif isinstance(node, list):
        for item in node:
            yield from _legends(item)


@pytest.mark.parametrize("name", ["sparsity_tradeoff", "ablation_bars"])
def test_series_legends_are_not_truncated(charts, name):
    # A browser cuts legend labels at Vega-Lite's default labelLimit (160 px): "retrieval: entropy_topk (gene…".
    legends = list(_legends(chart_spec(charts[name])))
    assert legends and all(legend.get("labelLimit") == 0 for legend in legends)


def test_head_map_panels_are_titled_in_words(charts):
    svg = vlc.vegalite_to_svg(chart_spec(charts["head_maps"]), vl_version=VL_VERSION)
    for column, title in HEAD_METRICS.items():
        assert title in svg
        assert f">{column}<" not in svg
