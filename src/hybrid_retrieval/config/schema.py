"""`Config`: the whole configuration, one section per field, with the cross-field checks a JSON schema
cannot say (an experiment names an unknown model, a k above a toy's heads, ...). Its derivations (rule
params) live in `params.ConfigParams`; the sections in their own modules."""

from __future__ import annotations

from typing import Literal

import pydantic
from pydantic import Field

from hybrid_retrieval.config._base import RUN_NAME_PATTERN, ModelName, Strict
from hybrid_retrieval.config.claims import ClaimsConfig
from hybrid_retrieval.config.datasets import Datasets
from hybrid_retrieval.config.experiments import EXPERIMENT_SECTIONS, Experiments, Sparsification
from hybrid_retrieval.config.models import ModelSpec, ToyModel, toy_num_heads
from hybrid_retrieval.config.params import ConfigParams
from hybrid_retrieval.config.report import Report
from hybrid_retrieval.config.retrieval import Grid, Haystack


class Config(ConfigParams, Strict):
    """The whole workflow configuration (config/config.yaml, config/paper.yaml, config/smoke.yaml)."""

    # The run's name: its outputs (results/, resources/, logs/, paper/) go to runs/<run>/, apart from every
    # other run's. None = the working directory itself (the default toy config, as before).
    run: str | None = Field(None, pattern=RUN_NAME_PATTERN)
    models: dict[ModelName, ModelSpec] = Field(min_length=1)
    """The models to evaluate, by name (kebab-case; a path component of every output): toy, hub or local."""
    # auto = cuda when available; cuda = every visible GPU (a model too big for one is spread over several,
    # device_map); cuda:N = that GPU. A cuda job on a machine without a usable GPU fails at its start.
    device: str = Field("cpu", pattern=r"^(cpu|auto|mps|cuda(:[0-9]+)?)$")
    # CPU float kernels of every job that computes results (hybrid_retrieval.infra.numerics): portable = the same
    # AVX2 kernels, one thread, oneDNN off, so results are bit-identical on any x86-64 CPU with AVX2;
    # native = the libraries' fastest kernels for this CPU (results move with the CPU). GPU kernels: neither.
    numerics: Literal["portable", "native"] = "portable"
    datasets: Datasets = Datasets()
    haystack: Haystack = Haystack()
    retrieval: Grid
    experiments: Experiments = Experiments()
    """The experiments, each a section that can be disabled (E1-E7 and our controls)."""
    sparsification: Sparsification = Sparsification()
    claims: ClaimsConfig = ClaimsConfig()
    report: Report = Report()
    """The report (results/report/) and the paper (paper/build/main.pdf)."""

    @pydantic.model_validator(mode="after")
    def _cross_checks(self) -> Config:
        names = set(self.models)
        for section in type(self.experiments).model_fields:
            chosen = getattr(self.experiments, section).models
            unknown = sorted(set(chosen or ()) - names)
            if unknown:
                raise ValueError(
                    f"experiments.{section}.models names unknown model(s) {unknown}; the models are {sorted(names)}"
                )
        toys = sorted(n for n, m in self.models.items() if isinstance(m, ToyModel))
        if self.haystack.kind == "paul_graham" and toys:
            raise ValueError(
                f"haystack.kind 'paul_graham' cannot run on toy model(s) {toys}: they only know the synthetic "
                "language; use haystack.kind: synthetic, or restrict the config to real models"
            )
        mmlu = self.experiments.mmlu
        if mmlu.enabled and mmlu.dataset == "toy":
            real = sorted(n for n in (mmlu.models or names) if not isinstance(self.models[n], ToyModel))
            if real:
                raise ValueError(
                    f"experiments.mmlu.dataset 'toy' has no questions for non-toy model(s) {real} (MMLU is on by "
                    "default); for retrieval only set experiments.mmlu.enabled: false, otherwise set "
                    "experiments.mmlu.dataset to hub (cais/mmlu), an MMLU CSV directory or a .parquet file, or "
                    "limit experiments.mmlu.models to toys"
                )
        glue = self.experiments.glue
        if glue.enabled:
            toys = sorted(n for n in (glue.models or names) if isinstance(self.models[n], ToyModel))
            if toys:
                raise ValueError(
                    f"experiments.glue cannot run on toy model(s) {toys}: GLUE is English and the toys only know "
                    "their synthetic language; limit experiments.glue.models to real models or disable it"
                )
        if self.report.paper_pdf is not False and "pdf" not in self.report.figure_formats:
            raise ValueError(
                "report.paper_pdf needs 'pdf' in report.figure_formats (the paper includes PDF figures)"
            )
        unknown = sorted(set(self.claims.mmlu_k) - names)
        if unknown:
            raise ValueError(
                f"claims.mmlu_k names unknown model(s) {unknown}; the models are {sorted(names)}: fix the name "
                "or remove the entry"
            )
        self._check_frames()
        self._check_toy_heads()
        return self

    def _check_frames(self) -> None:
        """Every context length must leave room for the haystack after the prompt frame's reserve."""
        reserve = self.retrieval.frame_reserve
        for section in EXPERIMENT_SECTIONS.values():
            lengths = getattr(self.experiments, section).grid.context_lengths
            where = f"experiments.{section}.grid.context_lengths" if lengths else "retrieval.context_lengths"
            too_short = sorted({n for n in (lengths or self.retrieval.context_lengths) if n <= reserve})
            if too_short and getattr(self.experiments, section).enabled:
                raise ValueError(
                    f"{where} {too_short} cannot hold the prompt frame: retrieval.frame_reserve is {reserve} "
                    "tokens; use context lengths above it or lower frame_reserve"
                )
        maps = self.experiments.attention_maps
        too_short = sorted({p.context_length for p in maps.probes if p.context_length <= reserve})
        if too_short and maps.enabled:
            raise ValueError(
                f"experiments.attention_maps.probes context lengths {too_short} cannot hold the prompt frame: "
                f"retrieval.frame_reserve is {reserve} tokens; use context lengths above it or lower frame_reserve"
            )

    def _check_toy_heads(self) -> None:
        """A k above a toy's heads per attention layer (known from its architecture) is refused here."""
        ex = self.experiments
        sections = {
            "experiments.jrt.k": ("jrt", ex.jrt.k),
            "experiments.sparsity_sweep.k": ("sparsity_sweep", [] if ex.sparsity_sweep.k == "all" else ex.sparsity_sweep.k),
            "experiments.mmlu.k": ("mmlu", ex.mmlu.k),
            "experiments.recordings.k": ("recordings", [ex.recordings.k]),
            "experiments.exposure.k": ("exposure", [ex.exposure.k]),
            "experiments.attention_maps.k": ("attention_maps", [ex.attention_maps.k]),
        }
        checks = [(where, self.models_for(section), ks) for where, (section, ks) in sections.items()]
        checks += [(f"claims.mmlu_k.{m}", [m], [k]) for m, k in self.claims.mmlu_k.items()]
        for where, models, ks in checks:
            for name in models:
                spec = self.models[name]
                if not isinstance(spec, ToyModel):
                    continue
                heads = toy_num_heads(spec.arch, (spec.training.model or {}))
                too_big = sorted(k for k in ks if isinstance(k, int) and k > heads)
                if too_big:
                    raise ValueError(
                        f"{where}: k {too_big} is above toy model {name!r}'s {heads} heads per attention layer; "
                        f"use k <= {heads} (or 'H' for all heads)"
                    )

