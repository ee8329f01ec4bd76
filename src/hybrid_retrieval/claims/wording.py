"""The claims' words: ids, the paper's sentence each tests, the claims.csv columns and schema, the config key
that sizes each claim's evidence, and each criterion stated from the config (`criteria`, the one place it is
stated; ARTIFACT.md and the report quote it)."""

from __future__ import annotations

import polars as pl

from hybrid_retrieval.config.claims import ClaimsConfig

CLAIM_IDS = ("1", "2", "3", "4", "5a", "5b")
CLAIM_TEXT = {
    "1": "Attention ablation (k = 0) makes needle retrieval fail (0%)",
    "2": "No SSM compensation: Just Read Twice prompting does not recover retrieval with no attention head (k = 0)",
    "3": "About 15% of the attention heads keep near-perfect retrieval, and more heads do not lose it",
    "4": "The sparsified model keeps ~84% of its MMLU accuracy (acc(k) / acc(all heads))",
    "5a": "Retrieval fails when the needle is hidden from attention during generation",
    "5b": "With the needle exposed in generation, retrieval needs the context in prefill or in generation",
}
# The sentence of the paper's abstract each claim tests (the report and the paper show it).
CLAIM_QUOTES = {
    "1": "attention ablation causes catastrophic retrieval failure (0% accuracy)",
    "2": "SSM layers show no compensatory mechanisms even with improved prompting",
    "3": "sparsifying attention to just 15% of heads maintains near-perfect retrieval",
    "4": "while preserving 84% MMLU performance",
    "5a": "needle tokens must be exposed during generation",
    "5b": "sufficient context must be available during prefill or generation",
}
# Which config key sets the trials behind each claim's deciding cells (named for INCONCLUSIVE verdicts).
TRIALS_KEYS = {
    "1": "retrieval.trials_per_cell (the attention_ablation grid)",
    "2": "experiments.jrt.grid.trials_per_cell",
    "3": "experiments.sparsity_sweep.grid.trials_per_cell",
    "4": "experiments.mmlu.max_questions_per_subject (or a larger MC set)",
    "5a": "experiments.exposure.grid.trials_per_cell",
    "5b": "experiments.exposure.grid.trials_per_cell",
}
EXPOSURE_CLAIMS = ("5a", "5b")  # the paper ran needle exposure on RecurrentGemma only
CLAIMS_COLUMNS = [
    "claim_id",
    "claim",
    "quote",
    "scope",
    "model",
    "paper_value",
    "estimate",
    "ci_low",
    "ci_high",
    "level",
    "n",
    "threshold",
    "status",
    "trials_needed",
    "trials_key",
    "detail",
]
SCHEMA: dict[str, pl.DataType] = {
    "claim_id": pl.String(),
    "claim": pl.String(),
    "quote": pl.String(),
    "scope": pl.String(),
    "model": pl.String(),
    "paper_value": pl.Float64(),
    "estimate": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "level": pl.Float64(),
    "n": pl.Int64(),
    "threshold": pl.Float64(),
    "status": pl.String(),
    "trials_needed": pl.Int64(),
    "trials_key": pl.String(),
    "detail": pl.String(),
}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def criteria(cfg: ClaimsConfig | None = None) -> dict[str, str]:
    """Each claim's criterion in words, from the config: the one place it is stated. ARTIFACT.md quotes
    `criteria_markdown()` of the defaults (a test keeps them equal) and the report shows it."""
    c = cfg or ClaimsConfig()
    lvl = f"{100 * c.level:g}%"
    hidden = "/".join(c.exposure_hidden_modes)
    cells = "; ".join(
        f"generation {x.generation_mode} with prefill {x.prefill_mode} should {x.expect}"
        for x in c.exposure_context_cells
    )
    mmlu = (
        f"the interval lies at or above {c.mmlu_paper_retention - c.mmlu_tolerance:.2f} (the paper's "
        f"{c.mmlu_paper_retention:.2f} as a floor, less {c.mmlu_tolerance:.2f})"
        if c.mmlu_mode == "at_least"
        else f"the interval lies inside {c.mmlu_paper_retention:.2f} +- {c.mmlu_tolerance:.2f}"
    )
    return {
        "0": (
            f"every verdict is decided from a {lvl} confidence interval: PASS when the whole interval meets the "
            "criterion, FAIL when the whole interval violates it, INCONCLUSIVE when it straddles the threshold "
            "(with about how many trials per condition would decide it). Rates: Wilson interval; paired "
            "conditions on the same trials: Newcombe's paired interval; MMLU retention: paired percentile "
            "bootstrap over questions (the arrangements of one question, as the toys ask each test fact, "
            "are one observation: their mean). Trials with identical model inputs count once. Gate (claims 1, 2, 3, 5): "
            f"intact (baseline) exact rate >= {_pct(c.min_intact_exact)}, else FAIL \"not testable\"; only "
            "trials whose needle is within reach of the attention window count"
        ),
        "1": f"at k = 0, in every phase run, the exact rate's interval lies at or below {_pct(c.failure_max)}",
        "2": (
            f"at k = 0, JRT exact rate - standard-prompt exact rate on the same haystacks lies at or below "
            f"{_pct(c.jrt_tolerance)}; k in {list(c.jrt_report_ks)} are reported, not decided"
        ),
        "3": (
            f"at k nearest {_pct(c.sparsity_paper_fraction)} of the heads (ties to the larger k) and at every "
            f"larger k below all heads (phase {c.sparsity_phase}, entropy top-k, standard prompts): exact rate "
            f">= {_pct(c.near_perfect_min)} (near-perfect, absolutely) and rate(k) - rate(all heads) on the "
            f"same prompts >= -{_pct(c.near_perfect_margin)} (near-perfect, relative to the intact model)"
        ),
        "4": (
            f"MMLU retention r = acc(k) / acc(all heads) on the same questions: {mmlu}; k from claims.mmlu_k, "
            f"else nearest {_pct(c.sparsity_paper_fraction)} of the heads; all-heads accuracy >= "
            f"{_pct(c.min_intact_accuracy)} else \"not testable\"; GLUE retention reported beside it, not checked"
        ),
        "5a": (
            f"every exposure cell with generation mode {hidden} (any prefill mode): exact rate at or below "
            f"{_pct(c.failure_max)}"
        ),
        "5b": (
            f"{cells}; retrieve = exact rate at or above {_pct(c.retrieve_min)}, fail = at or below "
            f"{_pct(c.failure_max)}. Claims 5a and 5b are the paper's on RecurrentGemma; on other families "
            "they are our extension (scope column)"
        ),
    }


def criteria_markdown(cfg: ClaimsConfig | None = None) -> str:
    """The criteria as a Markdown list (ARTIFACT.md quotes this text verbatim)."""
    labels = {"0": "Decision rule and gate"}
    return "\n".join(
        f"- **{labels.get(claim_id, f'Claim {claim_id}')}**"
        + (f" (\"{CLAIM_QUOTES[claim_id]}\")" if claim_id in CLAIM_QUOTES else "")
        + f": {text}"
        for claim_id, text in criteria(cfg).items()
    )
