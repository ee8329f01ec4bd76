"""The report's and the paper's figure captions, in figure order, and the head-map metrics: plain
constants (no Altair, vl-convert or Polars), which the Snakefile reads at parse time (the `plot_figures`
rule's `captions` param) and `figures`, `render` and `latex` use."""

from __future__ import annotations

# Head-map rows, top to bottom: table column -> what the row shows.
HEAD_METRICS = {
    "mean_entropy": "mean attention entropy",
    "kept_rate": "kept by the entropy rule",
    "needle_mass": "attention mass on the needle",
    "ablation_drop": "retrieval drop when ablated",
}

FIGURE_CAPTIONS = {
    "heatmaps_baseline": "Mean retrieval score over context length and needle depth, all heads intact (E1).",
    "heatmaps_attention_ablated": "The same grid with every attention head ablated (k = 0, E2).",
    "heatmaps_jrt": "Standard vs Just-Read-Twice prompts at k = 0, 1, 2 (E3).",
    "ablation_bars": "Exact retrieval with 95% Wilson intervals: baseline, attention ablation, JRT and our controls.",
    "sparsity_tradeoff": "Fraction of heads kept vs exact retrieval and multiple-choice retention (E4, E5).",
    "exposure_grid": "Exact retrieval per needle-exposure cell (E6): the needle hidden during generation kills retrieval.",
    "head_maps": "Per attention head (layer x head), one row per metric, top to bottom: "
    + "; ".join(HEAD_METRICS.values())
    + " (E7; a row is absent when its metric was not measured).",
    "attention_maps": "Raw attention maps on the probe prompts (experiments.attention_maps; the authors': 250 tokens "
    "at depth 100%, 4096 at 0%): per attention layer and head, the post-softmax attention of each generated "
    "step's query over the key positions (mean over the steps, before any intervention); the black bar left "
    "of key 0: the share of steps the entropy rule kept the head (full width: every step); red: the needle.",
}
