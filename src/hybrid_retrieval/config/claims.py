"""Section `claims`: the thresholds the paper's claims are decided with (`hybrid_retrieval.claims`
decides them; this schema imports no analysis code)."""

from __future__ import annotations

from typing import Literal

import pydantic


class ExposureCell(pydantic.BaseModel, extra="forbid", frozen=True):
    """One cell of the exposure grid that claim 5b decides, and what the claim expects of it."""

    generation_mode: str
    prefill_mode: str
    expect: Literal["retrieve", "fail"]


class ClaimsConfig(pydantic.BaseModel, extra="forbid", frozen=True):
    """Thresholds for the claims. Defaults are our choices where the paper gives words, not numbers."""

    level: float = pydantic.Field(0.95, gt=0, lt=1)
    """Confidence level of every interval a verdict is decided from."""
    min_intact_exact: float = pydantic.Field(0.8, ge=0, le=1)
    """Gate of claims 1-3 and 5: the intact (baseline) exact rate a model needs, else the claim FAILs as "not
    testable". Rates count only trials whose needle is within reach of the attention window."""
    min_intact_accuracy: float = pydantic.Field(0.4, ge=0, le=1)
    """Gate of claim 4: the all-heads multiple-choice accuracy a model needs (chance is 25%)."""
    failure_max: float = pydantic.Field(0.05, ge=0, le=1)
    """"Catastrophic failure (0% accuracy)": the exact rate's interval must lie at or below this (claims 1, 5a
    and the "fail" cells of 5b). 0 of n decides it from n = 73 distinct prompts at 95%."""
    jrt_tolerance: float = pydantic.Field(0.05, ge=0, le=1)
    """Claim 2, decided at k = 0 only: JRT exact rate - standard exact rate on the same haystacks must lie at
    or below this (with one or two heads kept a JRT gain comes through those heads, not the SSM)."""
    jrt_report_ks: tuple[int, ...] = (1, 2)
    """Claim 2: the k whose JRT - standard difference is reported in the detail, not decided."""
    near_perfect_min: float = pydantic.Field(0.9, ge=0, le=1)
    """Claim 3, "near-perfect" absolutely: the exact rate at the paper's fraction and every larger k must lie
    at or above this."""
    near_perfect_margin: float = pydantic.Field(0.1, ge=0, le=1)
    """Claim 3, "near-perfect" relative to the intact model: rate(k) - rate(all heads) on the same prompts
    must lie at or above minus this."""
    sparsity_paper_fraction: float = pydantic.Field(5 / 32, gt=0, lt=1)
    """The paper's kept fraction (Jamba: 5 of 32 heads): claims 3 and 4 run at the k whose k/H is nearest it
    (ties go to the larger k)."""
    retention_fraction: float = pydantic.Field(0.95, gt=0, le=1)
    """Not a verdict: the sparsity_threshold table's smallest k keeping this fraction of the rate at the
    largest k swept (a description of the curve, shown in the report)."""
    sparsity_phase: Literal["generation", "all"] = "generation"
    """Claim 3: the phase of the sparsity sweep it reads (the paper sparsifies generation steps)."""
    mmlu_paper_retention: float = 0.84
    """Claim 4: the paper's MMLU retention acc(k) / acc(all heads) at 5 of 32 heads."""
    mmlu_tolerance: float = pydantic.Field(0.10, ge=0, le=1)
    """Claim 4: how far below (at_least) or around (within) the paper's retention the interval may lie."""
    mmlu_mode: Literal["within", "at_least"] = "at_least"
    """Claim 4: "at_least" = the retention interval at or above mmlu_paper_retention - mmlu_tolerance (the
    paper's "preserving 84%" as a floor); "within" = inside mmlu_paper_retention +- mmlu_tolerance."""
    mmlu_k: dict[str, int] = {}
    """Claim 4: model -> the k it is decided at; models not listed use the k nearest sparsity_paper_fraction."""
    mmlu_dataset: str | None = None
    """Claim 4: the multiple-choice dataset it reads; None = every dataset present must pass."""
    bootstrap_seed: int = 0
    """Claim 4: the seed of the paired bootstrap over questions (the interval is reproducible)."""
    exposure_hidden_modes: tuple[str, ...] = ("omit", "null")
    """Claim 5a: the generation modes that hide the needle; every cell with one of them (any prefill mode)
    must fail (exact rate at or below failure_max)."""
    exposure_context_cells: tuple[ExposureCell, ...] = (
        ExposureCell(generation_mode="only", prefill_mode="keep", expect="retrieve"),
        ExposureCell(generation_mode="only", prefill_mode="follow", expect="fail"),
        ExposureCell(generation_mode="keep", prefill_mode="only", expect="retrieve"),
    )
    """Claim 5b's cells (the authors' exposure modes): generation `only` (attention to the needle alone)
    retrieves when the prefill kept the context, fails when the prefill withheld it too (`follow` = only);
    generation `keep` retrieves with the context withheld in prefill (prefill `only`)."""
    retrieve_min: float = pydantic.Field(0.5, ge=0, le=1)
    """Claim 5b: "retrieves" = the exact rate's interval at or above this."""

