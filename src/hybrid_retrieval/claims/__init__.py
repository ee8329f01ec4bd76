"""The paper's claims (arXiv 2510.19861, abstract; listed in ARTIFACT.md) decided from the aggregated tables.

One row per claim x model in `results/claims.csv` (CLAIMS_COLUMNS): the claim, the sentence of the paper it
tests (`quote`), whether the claim is the paper's for this model or our extension of it (`scope`: the paper
ran needle exposure on RecurrentGemma only), the deciding statistic's estimate, its confidence interval at
`level` and its n (distinct prompts or questions), the threshold it is compared with, the status and, for an
INCONCLUSIVE verdict, about how many trials per condition would decide it and the config key that sets them.

Status (hybrid_retrieval.analysis.statistics): PASS when the whole interval meets the criterion, FAIL when the whole
interval violates it, INCONCLUSIVE when it straddles the threshold, NOT RUN when the rows a claim needs are
absent (never that a check failed). A claim checked on several cells FAILs if any cell fails and PASSes only
if every cell passes. Trials with identical model inputs under one condition count once (prompt hashes).
Thresholds are config values (`ClaimsConfig`): the paper gives words ("0%", "near-perfect"), we give numbers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl
import pydantic

from hybrid_retrieval.analysis.statistics import FAIL, INCONCLUSIVE, NOT_RUN, PASS
from hybrid_retrieval.claims.checks import CHECKS, ClaimResult, Tables, glue_note
from hybrid_retrieval.claims.wording import (
    CLAIM_IDS,
    CLAIM_QUOTES,
    CLAIM_TEXT,
    CLAIMS_COLUMNS,
    EXPOSURE_CLAIMS,
    SCHEMA,
    TRIALS_KEYS,
    criteria,
    criteria_markdown,
)
from hybrid_retrieval.config.claims import ClaimsConfig
from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.io import write_csv

__all__ = [
    "PASS", "FAIL", "INCONCLUSIVE", "NOT_RUN", "CLAIMS_COLUMNS", "CLAIM_IDS", "CLAIM_QUOTES", "CLAIM_TEXT",
    "SCHEMA", "ClaimResult", "ClaimsConfig", "Tables", "criteria", "criteria_markdown", "evaluate_claims",
    "parse_claims_config", "read_claims",
]


def parse_claims_config(claims_config: Mapping[str, object] | ClaimsConfig | None) -> ClaimsConfig:
    if isinstance(claims_config, ClaimsConfig):
        return claims_config
    try:
        return ClaimsConfig(**dict(claims_config or {}))
    except pydantic.ValidationError as err:
        raise ConfigError(
            f"invalid claims config: {err}; the allowed keys and defaults are {ClaimsConfig().model_dump()}"
        ) from err


def _scope(claim_id: str, family: str | None) -> str:
    if claim_id in EXPOSURE_CLAIMS and family != "recurrent_gemma":
        return "extension"
    return "paper"


def evaluate_claims(
    tables_dir: str | os.PathLike[str],
    out_csv: str | os.PathLike[str] | None = None,
    claims_config: Mapping[str, object] | ClaimsConfig | None = None,
    *,
    models: Sequence[str] | None = None,
    families: Mapping[str, str | None] | None = None,
) -> pl.DataFrame:
    """Decide every claim for every model and write the rows to `out_csv` (when given).

    `models`: the models the config ran (so a model with no results shows NOT RUN rather than vanishing);
    default: every model found in the tables. `families`: model -> architecture family (the scope column:
    exposure claims are the paper's on recurrent_gemma only); unknown families count as extensions.
    """
    cfg = parse_claims_config(claims_config)
    tables = Tables.read(tables_dir)
    if models is None:
        found: set[str] = set()
        for table in (tables.summary, tables.mmlu):
            if table is not None:
                found |= set(table["model"].unique().to_list())
        models = sorted(found)
    rows = []
    for claim_id, (check, paper_value, needs) in CHECKS.items():
        for model in models or ["*"]:
            absent = [name for name in needs if getattr(tables, name) is None]
            if absent:
                result = ClaimResult(NOT_RUN, detail=f"table(s) {absent} absent")
            else:
                result = check(tables, model, cfg)
            detail = result.detail
            if claim_id == "4":
                note = glue_note(tables.glue, model, cfg)
                detail = f"{detail}; {note}" if detail else note
            d = result.decision
            rows.append(
                {
                    "claim_id": claim_id,
                    "claim": CLAIM_TEXT[claim_id],
                    "quote": CLAIM_QUOTES[claim_id],
                    "scope": _scope(claim_id, (families or {}).get(model)),
                    "model": model,
                    "paper_value": paper_value(cfg),
                    "estimate": None if d is None else d.estimate,
                    "ci_low": None if d is None else d.low,
                    "ci_high": None if d is None else d.high,
                    "level": cfg.level,
                    "n": None if d is None else d.n,
                    "threshold": None if d is None else d.threshold,
                    "status": result.status,
                    "trials_needed": d.trials_needed if d is not None and result.status == INCONCLUSIVE else None,
                    "trials_key": TRIALS_KEYS[claim_id] if result.status == INCONCLUSIVE else None,
                    "detail": detail,
                }
            )
    df = pl.DataFrame(rows, schema=SCHEMA).sort("claim_id", "model")
    if out_csv is not None:
        write_csv(df, Path(out_csv))
    return df


def read_claims(claims_csv: str | os.PathLike[str]) -> pl.DataFrame:
    """results/claims.csv as written by `evaluate_claims` (types restored)."""
    path = Path(claims_csv)
    if not path.exists():
        from hybrid_retrieval.errors import DataError

        raise DataError(
            f"claims file {path} does not exist; run `hybrid-retrieval aggregate` and the claims step first"
        )
    return pl.read_csv(path, schema_overrides=SCHEMA).select(CLAIMS_COLUMNS)
