"""The attention-map figure from a tiny summary table, the summary without torch, and the config section."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import vl_convert as vlc

from hybrid_retrieval.config import load_config
from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.jobs.attention_maps import SUMMARY_SCHEMA, probe_files, probe_name, summary_table
from hybrid_retrieval.report.captions import FIGURE_CAPTIONS
from hybrid_retrieval.report.figures import (
    VL_VERSION,
    attention_map_grid,
    build_figures,
    chart_spec,
)

SRC = Path(__file__).resolve().parents[2] / "src"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import synthetic_results as fx  # noqa: E402


@pytest.fixture
def table(tmp_path: Path) -> pl.DataFrame:
    paths = [fx.write_attention_map(tmp_path / f"{m}.npz", model=m) for m in ("toy-a", "toy-b")]
    return summary_table(paths)


def test_summary_table_bins_each_head_and_keeps_its_mass(table: pl.DataFrame) -> None:
    assert dict(table.schema) == SUMMARY_SCHEMA
    assert table.height == 2 * 2 * 2 * 12  # models x layers x heads x one bin per key (12 keys < 32 bins)
    sums = table.group_by("model", "layer_index", "head").agg(pl.col("mass").sum())["mass"].to_numpy()
    np.testing.assert_allclose(sums, 1.0, atol=3e-3)
    kept = table.group_by("head").agg(pl.col("kept_rate").first()).sort("head")["kept_rate"].to_list()
    assert kept == pytest.approx([1.0, 1 / 3])  # head 0 at every step; head 1 only at the prefill


def test_figure_builds_renders_and_shows_every_model(table: pl.DataFrame, tmp_path: Path) -> None:
    spec = chart_spec(attention_map_grid(table))  # validated against Vega-Lite's schema
    assert {row["panel"].split(" · ")[0] for row in spec["data"]["values"]} == {"toy-a", "toy-b"}
    assert "<svg" in vlc.vegalite_to_svg(spec, vl_version=VL_VERSION)
    assert attention_map_grid(pl.DataFrame()) is None
    # build_figures picks the table up beside the aggregate tables, and only when it is there
    assert "attention_maps" not in build_figures(tmp_path)
    table.write_parquet(tmp_path / "attention_maps.parquet")
    assert "attention_maps" in build_figures(tmp_path)
    assert "attention_maps" in FIGURE_CAPTIONS


def test_summary_runs_in_the_report_env_without_torch(tmp_path: Path) -> None:
    path = fx.write_attention_map(tmp_path / "p.npz", model="toy-a")
    code = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers"):
            raise ModuleNotFoundError(name, name=name)
sys.meta_path.insert(0, Block())
sys.path.insert(0, {str(SRC)!r})
from hybrid_retrieval.jobs.attention_maps import write_summary
write_summary([{str(path)!r}], {str(tmp_path / "out.parquet")!r})
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    assert pl.read_parquet(tmp_path / "out.parquet").height > 0


def _config(**maps) -> dict:
    return {
        "models": {"toy": {"source": "toy", "arch": "jamba"}},
        "retrieval": {"context_lengths": [256], "depths": [50], "frame_reserve": 40},
        "experiments": {"attention_maps": maps},
    }


def test_config_section_defaults_and_errors() -> None:
    settings = load_config(_config()).settings("attention_maps")
    assert settings["probes"] == [{"context_length": 250, "depth": 100.0}, {"context_length": 4096, "depth": 0.0}]
    assert settings["k"] == "H" and settings["phase"] == "generation" and settings["head_score"] == "entropy"
    assert probe_files("m", settings["probes"]) == [
        "results/m/attention_maps/len250_depth100.npz",
        "results/m/attention_maps/len4096_depth0.npz",
    ]
    assert probe_name(256, 12.5) == "len256_depth12.5"
    with pytest.raises(ConfigError, match="more than once"):
        load_config(_config(probes=[{"context_length": 256, "depth": 0}] * 2))
    with pytest.raises(ConfigError, match="cannot hold the prompt frame"):
        load_config(_config(probes=[{"context_length": 32, "depth": 0}]))
    with pytest.raises(ConfigError, match="experiments.attention_maps.k"):
        load_config(_config(k=99))
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(_config(probe=[]))
