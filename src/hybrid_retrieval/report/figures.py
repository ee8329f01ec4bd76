"""Altair figures built from the aggregated tables (computing and plotting are separate steps).

`build_figures(tables_dir)` returns {name: chart} for every figure whose data exists, in a fixed order;
`write_figures` saves each as Vega-Lite JSON, standalone HTML, SVG and PDF (vl-convert, no browser, no
network). The HTML report embeds the same specs; the LaTeX paper includes the PDFs. Given the models'
families (`report.families`) of a run holding several, every panel is labelled "family · model", so the
panels (ordered by label) group by family.

Size (~450 lines): one independent builder per figure; what they share (labels, scales,
families) is at the top.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import altair as alt
import polars as pl
import vl_convert as vlc

from hybrid_retrieval.analysis.aggregate import read_table
from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.io import atomic_path, write_json, write_text
from hybrid_retrieval.report.captions import HEAD_METRICS
from hybrid_retrieval.report.families import model_label, several

# Vega-Lite major.minor matching the schema altair writes, for vl-convert and the embedded JS bundle.
VL_VERSION = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
FORMATS = ("vl.json", "html", "svg", "pdf")
# Standalone HTML repeats the ~900 kB Vega bundle per figure; the report embeds it once instead.
DEFAULT_FORMATS = ("vl.json", "svg", "pdf")
RATE_SCALE = alt.Scale(domain=[0, 1], scheme="viridis")
PCT = ".0%"
# Vega-Lite cuts legend labels at 160 px ("retrieval: entropy_topk (gene…"); 0 = no limit.
FULL_LEGEND = alt.Legend(labelLimit=0, orient="bottom", direction="vertical")
# The report's body is 1200 px wide with 1rem padding each side: a figure wider than this is clipped in a
# 1280 px window (the JRT heatmaps were). Heatmap panels shrink to fit it.
REPORT_WIDTH = 1168
HEATMAP_MAX_PANELS = (REPORT_WIDTH - 200) // 72  # 60 px panels and their spacing side by side: 13
# The head maps' panels, top to bottom (the caption lists them in this order): column -> readable title.


def _data(df: pl.DataFrame) -> alt.Data:
    # Inline rows (plain dicts) rather than a pandas frame: no pandas needed, and the spec is self-contained.
    return alt.Data(values=df.to_dicts())


def retrieval_heatmaps(cells: pl.DataFrame, experiment: str) -> alt.FacetChart | None:
    """Mean score / 5 over context length x needle depth, one panel per model x condition (x prompt)."""
    if cells.is_empty():
        return None
    df = cells.filter(pl.col("experiment") == experiment)
    if df.is_empty():
        return None
    df = df.with_columns(
        pl.concat_str(
            [pl.col("condition"), pl.lit(" ("), pl.col("prompt_variant"), pl.lit(")")], separator=""
        ).alias("panel"),
        pl.col("depth").round(0).cast(pl.Int64).alias("depth_pct"),
    )
    # The panels fit the report's width (the row header and axis take ~200 px; the legend sits below): side
    # by side, narrower as they get more; past HEATMAP_MAX_PANELS one row per panel, one column per model.
    panels = df["panel"].n_unique()
    transpose = panels > HEATMAP_MAX_PANELS
    panel_width = 160 if transpose else max(60, min(160, (REPORT_WIDTH - 200) // max(1, panels) - 12))
    base = (
        alt.Chart(
            _data(df.select("model", "panel", "context_length", "depth_pct", "mean_score", "exact_rate", "n"))
        )
        .mark_rect()
        .encode(
            x=alt.X("context_length:O", title="context length (tokens)"),
            y=alt.Y("depth_pct:O", title="needle depth (%)", sort="descending"),
            color=alt.Color(
                "mean_score:Q", title="mean score / 5", scale=RATE_SCALE, legend=alt.Legend(orient="bottom")
            ),
            tooltip=[
                "model:N",
                "panel:N",
                "context_length:O",
                "depth_pct:O",
                alt.Tooltip("mean_score:Q", format=".2f"),
                alt.Tooltip("exact_rate:Q", format=PCT),
                "n:Q",
            ],
        )
        .properties(width=panel_width, height=120)
    )
    if transpose:
        chart = base.facet(
            row=alt.Row("panel:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")),
            column=alt.Column("model:N", title=None),
        )
    else:
        chart = base.facet(row=alt.Row("model:N", title=None), column=alt.Column("panel:N", title=None))
    return chart.properties(title=f"Retrieval heatmaps: {experiment}")


def ablation_bars(summary: pl.DataFrame) -> alt.FacetChart | None:
    """Exact retrieval with 95% Wilson intervals for the baseline, the ablations and our controls."""
    if summary.is_empty():
        return None
    df = summary.filter(pl.col("experiment").is_in(["baseline", "attention_ablated", "controls", "jrt"]))
    if df.is_empty():
        return None
    df = df.with_columns(
        pl.concat_str(
            [
                pl.col("experiment"),
                pl.lit(": "),
                pl.col("condition"),
                pl.lit(" ("),
                pl.col("prompt_variant"),
                pl.lit(")"),
            ]
        ).alias("bar")
    ).select("model", "experiment", "bar", "exact_rate", "ci_low", "ci_high", "n")
    unit = alt.Scale(domain=[0, 1])
    base = alt.Chart().encode(  # data sits on the layer, for the facet
        y=alt.Y("bar:N", title=None, sort=None, axis=alt.Axis(labelLimit=400))
    )
    bars = base.mark_bar().encode(
        x=alt.X("exact_rate:Q", title="exact retrieval", scale=unit, axis=alt.Axis(format=PCT)),
        color=alt.Color("experiment:N", title="experiment", legend=FULL_LEGEND),
        tooltip=[
            "bar:N",
            alt.Tooltip("exact_rate:Q", format=PCT),
            alt.Tooltip("ci_low:Q", format=PCT),
            alt.Tooltip("ci_high:Q", format=PCT),
            "n:Q",
        ],
    )
    # Same scale as the bars: a layer with an unscaled x would get its own domain and misalign.
    errors = base.mark_rule(color="black").encode(x=alt.X("ci_low:Q", scale=unit), x2="ci_high:Q")
    return (
        alt.layer(bars, errors, data=_data(df))
        .properties(width=320)
        .facet(row=alt.Row("model:N", title=None))
        .resolve_scale(y="independent")
        .properties(title="Ablations: exact retrieval (95% Wilson CI)")
    )


# The trade-off figure's rows, each with its own y axis: retrieval is a rate in [0, 1]; retention is a ratio
# that can pass 100% (a sparsified toy answering more MC questions than with all heads).
RETRIEVAL_MEASURE = "exact retrieval"
RETENTION_MEASURE = "MC retention (acc(k) / acc(all heads))"


def _curve_points(curve: pl.DataFrame) -> pl.DataFrame:
    series = pl.concat_str(
        [pl.lit("retrieval: "), pl.col("kind"), pl.lit(" ("), pl.col("phase"), pl.lit(")")]
    )
    return curve.filter(pl.col("kept_fraction").is_not_null()).select(
        "model",
        "kept_fraction",
        "k",
        series.alias("series"),
        pl.col("exact_rate").alias("value"),
        pl.lit(RETRIEVAL_MEASURE).alias("measure"),
    )


def _mmlu_points(mmlu: pl.DataFrame) -> pl.DataFrame:
    series = pl.concat_str([pl.col("dataset"), pl.lit(" retention ("), pl.col("phase"), pl.lit(")")])
    return mmlu.filter((pl.col("kind") == "entropy_topk") & pl.col("retention").is_not_null()).select(
        "model",
        "kept_fraction",
        "k",
        series.alias("series"),
        pl.col("retention").alias("value"),
        pl.lit(RETENTION_MEASURE).alias("measure"),
    )


def sparsity_tradeoff(curve: pl.DataFrame, mmlu: pl.DataFrame) -> alt.FacetChart | None:
    """Kept fraction of heads vs exact retrieval (each sweep kind; top row) and vs multiple-choice retention
    (bottom row), one column per model; each row has its own y axis (a rate and a ratio)."""
    parts = [points(df) for points, df in ((_curve_points, curve), (_mmlu_points, mmlu)) if not df.is_empty()]
    df = pl.concat(parts).sort("model", "series", "kept_fraction") if parts else pl.DataFrame()
    if df.is_empty():
        return None
    chart = (
        alt.Chart(_data(df))
        .mark_line(point=True)
        .encode(
            x=alt.X("kept_fraction:Q", title="fraction of attention heads kept", axis=alt.Axis(format=PCT)),
            y=alt.Y("value:Q", title=None, axis=alt.Axis(format=PCT)),
            color=alt.Color("series:N", title=None, legend=FULL_LEGEND),
            tooltip=[
                "model:N",
                "series:N",
                "k:Q",
                alt.Tooltip("kept_fraction:Q", format=".3f"),
                alt.Tooltip("value:Q", format=".3f"),
            ],
        )
        .properties(width=300, height=160)
    )
    return (
        chart.facet(
            row=alt.Row("measure:N", title=None, sort=[RETRIEVAL_MEASURE, RETENTION_MEASURE]),
            column=alt.Column("model:N", title=None),
        )
        .resolve_scale(y="independent")
        .properties(title="Head sparsification trade-off (entropy top-k and controls)")
    )


def head_score_maps(heads: pl.DataFrame) -> alt.VConcatChart | None:
    """Per layer x head, one row per metric in HEAD_METRICS order (each with its own colour legend, shared
    by the models of the row), one column per model. Cells are 12 px (8 px past 16 heads), so the figure
    stays narrow enough to print at page width with legible labels."""
    if heads.is_empty():
        return None
    long = (
        heads.unpivot(
            index=["model", "layer_index", "head"],
            on=[c for c in HEAD_METRICS if c in heads.columns],
            variable_name="metric",
            value_name="value",
        )
        .filter(pl.col("value").is_not_null())
        .with_columns(pl.col("metric").replace_strict(HEAD_METRICS))
    )
    if long.is_empty():
        return None
    cell = 12 if heads["head"].n_unique() <= 16 else 8
    step = alt.Step(cell)
    legend = alt.Legend(gradientLength=max(20, cell * long["layer_index"].n_unique()), tickCount=2)
    titles = [t for t in HEAD_METRICS.values() if long.filter(pl.col("metric") == t).height]
    rows = []
    for i, title in enumerate(titles):
        part = long.filter(pl.col("metric") == title)
        first, last = i == 0, i == len(titles) - 1  # model names on top, the x-axis title at the bottom only
        panel = (
            alt.Chart(_data(part))
            .mark_rect()
            .encode(
                x=alt.X("head:O", title="head" if last else None),
                y=alt.Y("layer_index:O", title="layer"),
                color=alt.Color(
                    "value:Q",
                    title=None,
                    scale=alt.Scale(scheme="viridis"),
                    legend=legend,  # as tall as the panels: the rows stay short
                ),
                tooltip=["model:N", "layer_index:O", "head:O", alt.Tooltip("value:Q", format=".3f")],
            )
            .properties(width=step, height=step)
        )
        rows.append(
            panel.facet(column=alt.Column("model:N", title=None, header=alt.Header(labels=first)))
            .resolve_scale(x="independent", y="independent")
            .properties(title=alt.TitleParams(title, anchor="start", fontSize=11))
        )
    return (
        alt.vconcat(*rows, spacing=8)
        .resolve_scale(color="independent")
        .properties(title="Attention heads by layer, one row per metric")
    )


def exposure_grid(summary: pl.DataFrame) -> alt.FacetChart | None:
    """Exact retrieval for every generation-mode x prefill-mode cell of the needle exposure experiment."""
    if summary.is_empty():
        return None
    df = summary.filter(pl.col("experiment") == "exposure").select(
        "model", "generation_mode", "prefill_mode", "exact_rate", "n"
    )
    if df.is_empty():
        return None
    modes = ["keep", "omit", "only", "balanced", "null", "follow"]
    base = alt.Chart().encode(  # data sits on the layer, for the facet
        x=alt.X("prefill_mode:N", title="prefill mode", sort=modes),
        y=alt.Y("generation_mode:N", title="generation mode", sort=modes),
    )
    rects = base.mark_rect().encode(
        color=alt.Color("exact_rate:Q", title="exact retrieval", scale=RATE_SCALE),
        tooltip=[
            "model:N",
            "generation_mode:N",
            "prefill_mode:N",
            alt.Tooltip("exact_rate:Q", format=PCT),
            "n:Q",
        ],
    )
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text("exact_rate:Q", format=PCT),
        color=alt.condition("datum.exact_rate > 0.5", alt.value("black"), alt.value("white")),
    )
    return (
        alt.layer(rects, text, data=_data(df))
        .properties(width=220, height=160)
        .facet(column=alt.Column("model:N", title=None))
        .properties(title="Needle exposure: generation mode x prefill mode")
    )


def attention_map_grid(maps: pl.DataFrame) -> alt.FacetChart | None:
    """The raw attention maps on the probe prompts (results/tables/attention_maps.parquet): one panel per
    attention layer (columns) and model x probe (rows); in each, a row per head over the key positions,
    coloured by the attention mass averaged over the recorded steps; left of key 0 a bar as long as the share
    of steps the head was kept; red rules mark the needle."""
    if maps.is_empty():
        return None
    df = maps.with_columns(
        pl.format(
            "{} · {} tokens, depth {}%", pl.col("model"), pl.col("context_length"), pl.col("depth").round(0).cast(pl.Int64)
        ).alias("panel"),
        (-(pl.col("prompt_length") * 0.05).ceil()).cast(pl.Int32).alias("strip_start"),
        # columns by the attention layer's place among the model's attention layers: models differ in where
        # their attention layers sit (RecurrentGemma every third layer, Jamba every eighth)
        (pl.col("layer_index").rank("dense").over("model") - 1).cast(pl.Int32).alias("attention_layer"),
    ).select(
        "panel", "attention_layer", "layer_index", "head", "key_start", "key_end", "mass", "kept_rate", "k", "steps",
        "needle_start", "needle_end", "strip_start",
    )  # fmt: skip
    layers = df["attention_layer"].n_unique()
    heads = int(df["head"].max()) + 1
    width = max(48, min(220, (REPORT_WIDTH - 250) // max(1, layers) - 12))
    y = alt.Y("head:O", title="head", axis=alt.Axis(labelFontSize=7, labelOverlap=True))
    rects = (
        alt.Chart()
        .mark_rect()
        .encode(
            x=alt.X("key_start:Q", title="key position (token)"),
            x2="key_end:Q",
            y=y,
            color=alt.Color(
                "mass:Q",
                title="attention mass (mean over steps)",
                scale=alt.Scale(type="sqrt", domain=[0, 1], scheme="viridis"),
                legend=alt.Legend(orient="bottom", values=[0, 0.05, 0.2, 0.5, 1], titleLimit=0),
            ),
            tooltip=["panel:N", "layer_index:Q", "head:Q", "key_start:Q", "key_end:Q", alt.Tooltip("mass:Q", format=".3f")],
        )
    )
    strip = (  # left of key 0, a bar per head: the share of steps kept (the full strip: every step)
        alt.Chart()
        .transform_filter("datum.key_start == 0")
        .transform_calculate(strip_end="datum.strip_start * (1 - datum.kept_rate)")
        .mark_rect(color="black")
        .encode(
            x="strip_start:Q",
            x2="strip_end:Q",
            y=y,
            tooltip=["panel:N", "layer_index:Q", "head:Q", alt.Tooltip("kept_rate:Q", format=PCT), "k:Q", "steps:Q"],
        )
    )
    needle = (
        alt.Chart()
        .transform_filter("datum.key_start == 0 && datum.head == 0")
        .transform_fold(["needle_start", "needle_end"], as_=["edge", "position"])
        .mark_rule(color="red", strokeWidth=1)
        .encode(x="position:Q")
    )
    return (
        alt.layer(rects, strip, needle, data=_data(df))
        .properties(width=width, height=max(64, 8 * heads))
        .facet(
            row=alt.Row("panel:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")),
            column=alt.Column("attention_layer:O", title="attention layer (0 = the model's first; tooltip: layer index)"),
        )
        .resolve_scale(x="independent", y="independent")  # probes differ in length, models in heads
        .properties(title="Raw attention maps on the probe prompts")
    )




def _attention_maps_table(tables_dir: str | os.PathLike[str]) -> pl.DataFrame:
    """results/tables/attention_maps.parquet (rule summarize_attention_maps, not an aggregate table)."""
    path = Path(tables_dir) / "attention_maps.parquet"
    return pl.read_parquet(path) if path.exists() else pl.DataFrame()


def _family_labels(df: pl.DataFrame, families: Mapping[str, str] | None) -> pl.DataFrame:
    """`model` as "family · model" when the run holds several families (else unchanged)."""
    if not several(families) or "model" not in df.columns:
        return df
    return df.with_columns(
        pl.col("model").map_elements(lambda m: model_label(m, families), return_dtype=pl.String)
    )


def build_figures(
    tables_dir: str | os.PathLike[str], families: Mapping[str, str] | None = None
) -> dict[str, alt.TopLevelMixin]:
    """Every figure whose data exists, in the order of FIGURE_CAPTIONS (absent tables count as empty).
    `families`: model -> family (`report.families.model_families`); panels grouped by it when several."""
    names = ("retrieval_summary", "retrieval_cells", "sparsity_curve", "mmlu_summary", "heads")
    t = {name: read_table(tables_dir, name) for name in names}
    t = {name: _family_labels(df, families) if df is not None else pl.DataFrame() for name, df in t.items()}
    makers: dict[str, Callable[[], alt.TopLevelMixin | None]] = {
        "heatmaps_baseline": lambda: retrieval_heatmaps(t["retrieval_cells"], "baseline"),
        "heatmaps_attention_ablated": lambda: retrieval_heatmaps(t["retrieval_cells"], "attention_ablated"),
        "heatmaps_jrt": lambda: retrieval_heatmaps(t["retrieval_cells"], "jrt"),
        "ablation_bars": lambda: ablation_bars(t["retrieval_summary"]),
        "sparsity_tradeoff": lambda: sparsity_tradeoff(t["sparsity_curve"], t["mmlu_summary"]),
        "exposure_grid": lambda: exposure_grid(t["retrieval_summary"]),
        "head_maps": lambda: head_score_maps(t["heads"]),
        "attention_maps": lambda: attention_map_grid(
            _family_labels(_attention_maps_table(tables_dir), families)
        ),
    }
    charts = {}
    for name, make in makers.items():
        chart = make()
        if chart is not None:
            charts[name] = chart
    return charts


def chart_spec(chart: alt.TopLevelMixin) -> dict:
    """The Vega-Lite spec, validated against altair's schema (raises on an invalid figure)."""
    return chart.to_dict(validate=True)


def write_figures(
    tables_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    formats: tuple[str, ...] = DEFAULT_FORMATS,
    families: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Write every figure as `<name>.<format>` to out_dir; returns {"<name>.<format>": path}. `families`:
    as for `build_figures`."""
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ConfigError(f"unknown figure formats {sorted(unknown)}; choose from {list(FORMATS)}")
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    for name, chart in build_figures(tables_dir, families).items():
        spec = chart_spec(chart)
        for fmt in formats:
            path = out_dir / f"{name}.{fmt}"
            if fmt == "vl.json":
                write_json(spec, path)
            elif fmt == "html":
                write_text(vlc.vegalite_to_html(spec, vl_version=VL_VERSION, bundle=True), path)
            elif fmt == "svg":
                write_text(vlc.vegalite_to_svg(spec, vl_version=VL_VERSION), path)
            else:
                with atomic_path(path) as tmp:
                    tmp.write_bytes(vlc.vegalite_to_pdf(spec, vl_version=VL_VERSION))
            written[f"{name}.{fmt}"] = path
    return written
