"""What a config's grid can decide: per claim, the trials behind its deciding cell and the interval the
claim would get at the outcome the paper reports, before anything runs.

    hybrid-retrieval claims-design config/paper.yaml     # a Markdown table (ARTIFACT.md quotes it)

n is the grid's trials per condition (context lengths x depths x trials per cell); trials whose prompts
coincide count once (`n_distinct`), so a real run's n can be smaller (ARTIFACT.md, "Evidence"). MMLU's n is
the questions per subject times the subjects (57 for MMLU; the toys' sets have 3).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hybrid_retrieval.analysis.statistics import decide_paired_difference, decide_rate, decide_ratio
from hybrid_retrieval.claims import ClaimsConfig

MMLU_TEST_QUESTIONS = 14042  # cais/mmlu "all" test split
TOY_MC_QUESTIONS = 45  # 3 subjects x 15 test questions (tasks/synthetic.py MC_SPLIT_SIZES)


def _n(grid: dict) -> int:
    """Trials of a grid (`Config.grid_for`: every key present, so no default is repeated here)."""
    return len(grid["context_lengths"]) * len(grid["depths"]) * int(grid["trials_per_cell"])


def design_rows(config) -> list[tuple[str, str, int, str]]:  # noqa: ANN001 (a hybrid_retrieval.config.Config)
    """(claim, deciding cell, n, the interval at the paper's outcome and its verdict) per claim."""
    cfg: ClaimsConfig = config.claims
    lvl = cfg.level
    rows = []
    n1 = _n(config.grid_for("attention_ablation"))
    d = decide_rate(0, n1, "<=", cfg.failure_max, lvl)
    rows.append(("1", "k = 0, each phase", n1, d))
    n2 = _n(config.grid_for("jrt"))
    d = decide_paired_difference([False] * n2, [False] * n2, "<=", cfg.jrt_tolerance, lvl)
    rows.append(("2", "JRT - standard at k = 0 (0% both)", n2, d))
    n3 = _n(config.grid_for("sparsity_sweep"))
    d = decide_rate(n3, n3, ">=", cfg.near_perfect_min, lvl)
    rows.append(("3", "exact rate at k* (100%)", n3, d))
    d = decide_paired_difference([True] * n3, [True] * n3, ">=", -cfg.near_perfect_margin, lvl)
    rows.append(("3", "rate(k*) - rate(all heads) (100% both)", n3, d))
    mmlu = config.experiments.mmlu
    per_subject = getattr(mmlu, "max_questions_per_subject", None)
    toy = mmlu.dataset == "toy"
    n4 = TOY_MC_QUESTIONS if toy else (MMLU_TEST_QUESTIONS if per_subject is None else per_subject * 57)
    if not toy and per_subject is not None:
        n4 = min(n4, per_subject * 57)
    # the paper's MMLU: acc 0.84 x a 0.6 all-heads accuracy, paired so that every k-correct is H-correct
    correct_h = round(0.6 * n4)
    correct_k = round(0.84 * correct_h)
    numerator = [True] * correct_k + [False] * (n4 - correct_k)
    denominator = [True] * correct_h + [False] * (n4 - correct_h)
    d = decide_ratio(numerator, denominator, ">=", cfg.mmlu_paper_retention - cfg.mmlu_tolerance, lvl)
    rows.append(("4", "retention 0.84 of a 60% model", n4, d))
    n5 = _n(config.grid_for("exposure"))
    d = decide_rate(0, n5, "<=", cfg.failure_max, lvl)
    rows.append(("5a", "a hidden cell (0%)", n5, d))
    d = decide_rate(n5, n5, ">=", cfg.retrieve_min, lvl)
    rows.append(("5b", "a retrieve cell (100%)", n5, d))
    return [(c, cell, n, f"{d.describe()}") for c, cell, n, d in rows]


def design_markdown(config) -> str:  # noqa: ANN001
    lines = ["| claim | deciding cell (paper's outcome) | n per condition | interval and verdict |", "|---|---|---|---|"]
    lines += [f"| {c} | {cell} | {n} | {text} |" for c, cell, n, text in design_rows(config)]
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str = "hybrid-retrieval claims-design") -> int:
    from hybrid_retrieval.config import load_config_file

    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("config", type=Path)
    args = parser.parse_args(argv)
    print(design_markdown(load_config_file(args.config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
