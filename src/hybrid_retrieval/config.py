"""The typed configuration of the whole workflow: one pydantic model, the single schema.

`Config` is what `config/*.yaml` must look like. Every section forbids unknown keys, so a typo fails
before any job runs, with a message naming the key. `workflow/schemas/config.schema.yaml` is exported
from this model (`python -m hybrid_retrieval.config --export-schema`); a test fails when the two drift.
The Snakefile validates with both: the JSON schema through `snakemake.utils.validate`, then `load_config`
for the cross-field rules a JSON schema cannot say (e.g. an experiment names an unknown model).

This module imports no torch or transformers: the Snakefile imports it at parse time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import Field

from hybrid_retrieval.claims import ClaimsConfig
from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.tasks.haystack import ESSAY_BASE_URL, ESSAY_COMMIT, ESSAY_SHA256

SCHEMA_PATH = Path("workflow/schemas/config.schema.yaml")
# Model names become path components and Snakemake wildcard values: kebab-case, no "_" or "/".
MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9.-]*$"
SHA40_PATTERN = r"^[0-9a-f]{40}$"

# Retrieval experiment name (file name, `experiment` column) -> its config section.
EXPERIMENT_SECTIONS = {
    "baseline": "baseline",
    "attention_ablated": "attention_ablation",
    "jrt": "jrt",
    "exposure": "exposure",
    "controls": "controls",
    "sparsity_sweep": "sparsity_sweep",
}

Dtype = Literal["float32", "bfloat16", "float16"]
Phase = Literal["generation", "all"]
GenerationMode = Literal["keep", "omit", "only", "balanced", "null"]
PrefillMode = Literal["keep", "omit", "only", "balanced", "null", "follow"]
PromptVariant = Literal["base", "jrt", "chat", "chat_jrt"]
# Where prefill ends (PAPER.md "Phases"): "auto" = the authors' choice for the architecture
# (RecurrentGemma: last_token_as_generation; Jamba: whole_prompt), see evaluate.resolve_prefill_boundary.
PrefillBoundary = Literal["auto", "last_token_as_generation", "whole_prompt"]
# k values of a list: an int (heads kept per attention layer) or "H" (= all heads of the model).
HeadCount = Annotated[int, Field(ge=0)] | Literal["H"]


class Strict(pydantic.BaseModel):
    """Base of every section: unknown keys are errors, values are immutable once validated."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------------------------------------ models


class ToyTraining(Strict):
    """Overrides of `models.toy.ToyTrainConfig` (None = the architecture's default recipe).

    Mirrors that dataclass field by field (a test checks the names) so the config can be validated
    without importing torch; `models.toy.make_config` re-checks the values when training starts."""

    steps: int | None = Field(None, ge=1, le=1_000_000)
    lr: float | None = Field(None, gt=0, le=1)
    # [length, fraction of steps] or [length, fraction of steps, knowledge fraction of the stage]
    curriculum: list[tuple[int, float] | tuple[int, float, float]] | None = Field(None, min_length=1)
    tokens_per_step: int | None = Field(None, ge=48)
    warmup_steps: int | None = Field(None, ge=0)
    weight_decay: float | None = Field(None, ge=0)
    grad_clip: float | None = Field(None, gt=0)
    knowledge_fraction: float | None = Field(None, ge=0, lt=1)
    mc_share: float | None = Field(None, ge=0, le=1)  # share of knowledge sequences that are MC prompts
    mc_open_book: float | None = Field(
        None, ge=0, le=1
    )  # share of MC prompts with each question's fact before it
    loss_mean: Literal["token", "sequence"] | None = None  # average the loss over tokens or per sequence
    variant_weights: list[tuple[PromptVariant, float]] | None = None
    compact_below: int | None = Field(None, ge=0, le=8193)
    max_needles: int | None = Field(None, ge=1, le=8)
    max_questions: int | None = Field(None, ge=1, le=8)
    eval_lengths: list[Annotated[int, Field(ge=48)]] | None = Field(None, min_length=1)
    eval_trials: int | None = Field(None, ge=1)
    mc_shots: list[Annotated[int, Field(ge=0, le=5)]] | None = None
    threads: int | None = Field(None, ge=1, le=64)
    # which knowledge splits the toy sees as facts in training ("test" included = MMLU stand-in of known facts)
    mc_train_splits: list[Literal["dev", "train", "test"]] | None = Field(None, min_length=1)
    model: dict[str, Any] | None = None  # merged into the architecture's model defaults (hidden_size, ...)

    def overrides(self) -> dict[str, Any]:
        """The keyword arguments for `train_toy` (only the fields that are set)."""
        return self.model_dump(mode="json", exclude_none=True)


class ToyModel(Strict):
    """A tiny model of a real architecture, trained here on the synthetic language."""

    source: Literal["toy"]
    arch: Literal["recurrent_gemma", "jamba"]
    seed: int = Field(0, ge=0)  # also the seed of its synthetic language (vocabulary, needles, facts)
    training: ToyTraining = ToyTraining()
    dtype: Dtype = "float32"
    chat_template: bool = False  # prompt variants chat / chat_jrt instead of base / jrt
    prefill_boundary: PrefillBoundary = "auto"


class HubModel(Strict):
    """A Hugging Face hub model, downloaded at a pinned commit (safetensors only)."""

    source: Literal["hub"]
    repo_id: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    revision: str = Field(pattern=SHA40_PATTERN, description="40-hex commit sha (branches and tags move)")
    dtype: Dtype = "bfloat16"
    chat_template: bool = False
    prefill_boundary: PrefillBoundary = "auto"


class LocalModel(Strict):
    """A model already on disk in hub-snapshot layout (config.json, *.safetensors, tokenizer files)."""

    source: Literal["local"]
    path: str = Field(min_length=1)
    dtype: Dtype = "float32"
    chat_template: bool = False
    prefill_boundary: PrefillBoundary = "auto"


ModelSpec = Annotated[ToyModel | HubModel | LocalModel, Field(discriminator="source")]
ModelName = Annotated[str, Field(pattern=MODEL_NAME_PATTERN)]

# ------------------------------------------------------------------------------------ haystack and grid


class Haystack(Strict):
    """Where the needle test's filler text comes from."""

    kind: Literal["synthetic", "paul_graham"] = "synthetic"
    # synthetic: which filler text of the language. The language itself is the toy model's (its seed);
    # `language_seed` sets it for non-toy models (and overrides it for toys, which then see unknown words).
    seed: int = Field(0, ge=0)
    language_seed: int | None = Field(None, ge=0)
    # paul_graham: the pinned essays (gkamradt/LLMTest_NeedleInAHaystack), hash-checked.
    base_url: str = ESSAY_BASE_URL
    commit: str = Field(ESSAY_COMMIT, pattern=r"^[0-9a-f]{7,40}$")
    sha256: str = Field(ESSAY_SHA256, pattern=r"^[0-9a-f]{64}$")
    from_dir: str | None = None  # offline: copy the essays from this folder instead of downloading


class Grid(Strict):
    """The needle-in-a-haystack grid and decoding shared by every retrieval experiment."""

    context_lengths: list[Annotated[int, Field(ge=16)]] = Field(min_length=1)
    depths: list[Annotated[float, Field(ge=0, le=100)]] = Field(min_length=1)
    frame_reserve: int = Field(200, ge=0)  # prompt-frame tokens inside each context length
    max_new_tokens: int = Field(40, ge=1, le=4096)
    batch_size: int = Field(1, ge=1)
    trials_per_cell: int = Field(1, ge=1)
    seed: int = Field(0, ge=0)


class GridOverride(Strict):
    """Per-experiment subset of the grid (None = the shared grid's value)."""

    context_lengths: list[Annotated[int, Field(ge=16)]] | None = Field(None, min_length=1)
    depths: list[Annotated[float, Field(ge=0, le=100)]] | None = Field(None, min_length=1)
    trials_per_cell: int | None = Field(None, ge=1)


# ----------------------------------------------------------------------------------------- experiments


class Experiment(Strict):
    enabled: bool = True
    models: list[ModelName] | None = None  # None = every model of the config
    grid: GridOverride = GridOverride()


class Baseline(Experiment):
    """E1: no intervention."""


class AttentionAblation(Experiment):
    """E2: k = 0 (every head of every attention layer zeroed), per phase."""

    phases: list[Phase] = Field(["generation", "all"], min_length=1)


class JustReadTwice(Experiment):
    """E3: standard vs JRT prompt at each k (entropy top-k)."""

    k: list[HeadCount] = Field([0, 1, 2], min_length=1)
    phase: Phase = "generation"


class Exposure(Experiment):
    """E6: needle exposure, every generation mode x every prefill mode."""

    generation_modes: list[GenerationMode] = Field(["keep", "omit", "only", "balanced", "null"], min_length=1)
    prefill_modes: list[PrefillMode] = Field(["keep", "follow"], min_length=1)


class RandomHeads(Strict):
    enabled: bool = True
    seeds: list[Annotated[int, Field(ge=0)]] = Field([0], min_length=1)


class StaticHeads(Strict):
    enabled: bool = True
    rank_by: Literal["entropy_rank", "ablation_rank"] = "entropy_rank"


class SparsitySweep(Experiment):
    """E4: entropy top-k for each k, with our random-k and static-head controls at matched k."""

    k: Literal["all"] | list[HeadCount] = "all"  # "all" = 0..H
    phases: list[Phase] = Field(["generation"], min_length=1)
    random_k: RandomHeads = RandomHeads()
    static_heads: StaticHeads = StaticHeads()


class Controls(Experiment):
    """Ours: each attention layer ablated alone, each SSM/recurrent (mixer) layer ablated alone."""

    single_layer: bool = True
    mixer_layers: bool = True
    phase: Phase = "all"


class HeadScores(Experiment):
    """Per-head mean entropy and ablation effect (ranks the static-head control)."""

    phase: Phase = "generation"
    max_answer_tokens: int = Field(40, ge=1)


class Mmlu(Strict):
    """E5: multiple choice under prefill sparsity. dataset "toy" = the toy model's own MMLU-layout
    knowledge set (resources/models/<toy>/mc); otherwise an MMLU CSV directory, a .parquet file or
    "hub:<dataset>[:<config>]" (local datasets cache only)."""

    enabled: bool = True
    models: list[ModelName] | None = None
    dataset: str = "toy"
    num_shots: int = Field(5, ge=0, le=5)  # MMLU's dev split has 5 questions per subject
    k: list[HeadCount] = Field(["H", 0], min_length=1)
    chat_template: bool | None = None  # None = the model's chat_template setting
    batch_size: int = Field(8, ge=1)
    max_questions_per_subject: int | None = Field(None, ge=1)  # None = all (first n per subject otherwise)


class Recordings(Experiment):
    """E7: which heads the entropy rule keeps per step, and attention mass on the needle."""

    k: HeadCount = 1
    phase: Phase = "generation"
    max_trials: int = Field(4, ge=1)  # the first n trials of the grid, by (length, depth)
    max_new_tokens: int = Field(12, ge=1)


class Experiments(Strict):
    baseline: Baseline = Baseline()
    attention_ablation: AttentionAblation = AttentionAblation()
    jrt: JustReadTwice = JustReadTwice()
    exposure: Exposure = Exposure()
    sparsity_sweep: SparsitySweep = SparsitySweep()
    controls: Controls = Controls()
    head_scores: HeadScores = HeadScores()
    mmlu: Mmlu = Mmlu()
    recordings: Recordings = Recordings()


# -------------------------------------------------------------------------------------------- report


class Report(Strict):
    figure_formats: list[Literal["vl.json", "html", "svg", "pdf"]] = Field(
        ["vl.json", "svg", "pdf"], min_length=1
    )
    # auto = build paper/build/main.pdf when a LaTeX engine (latexmk or pdflatex) is on PATH.
    paper_pdf: bool | Literal["auto"] = "auto"


class Config(Strict):
    """The whole workflow configuration (config/config.yaml, config/paper.yaml, config/smoke.yaml)."""

    models: dict[ModelName, ModelSpec] = Field(min_length=1)
    device: str = Field("cpu", pattern=r"^(cpu|auto|mps|cuda(:[0-9]+)?)$")  # auto = cuda when available
    haystack: Haystack = Haystack()
    retrieval: Grid
    experiments: Experiments = Experiments()
    claims: ClaimsConfig = ClaimsConfig()
    report: Report = Report()

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
                    f"experiments.mmlu.dataset 'toy' has no questions for non-toy model(s) {real}; set dataset to "
                    "an MMLU CSV directory (or .parquet, hub:cais/mmlu) or limit experiments.mmlu.models to toys"
                )
        if self.report.paper_pdf is not False and "pdf" not in self.report.figure_formats:
            raise ValueError(
                "report.paper_pdf needs 'pdf' in report.figure_formats (the paper includes PDF figures)"
            )
        return self

    def models_for(self, section: str) -> list[str]:
        """The models an experiment section runs on ([] when it is disabled), in config order."""
        experiment = getattr(self.experiments, section)
        if not experiment.enabled:
            return []
        chosen = experiment.models
        return [name for name in self.models if chosen is None or name in chosen]

    def grid_for(self, section: str) -> dict[str, Any]:
        """The shared grid with the section's overrides applied, as a plain dict (a rule param)."""
        grid = self.retrieval.model_dump(mode="json")
        override = getattr(self.experiments, section).grid.model_dump(mode="json", exclude_none=True)
        return {**grid, **override}

    # The plain-dict parameters of hybrid_retrieval.experiments, shared by the Snakefile and the CLI.

    def model(self, name: str) -> ToyModel | HubModel | LocalModel:
        if name not in self.models:
            raise ConfigError(f"unknown model {name!r}; the config's models are {sorted(self.models)}")
        return self.models[name]

    def model_params(self, name: str) -> dict[str, Any]:
        spec = self.model(name)
        return {
            "name": name,
            "dtype": spec.dtype,
            "chat_template": spec.chat_template,
            "prefill_boundary": spec.prefill_boundary,
        }

    def model_dir(self, name: str) -> str:
        """resources/models/{name} for toy and hub models, the configured path for local ones."""
        spec = self.model(name)
        return spec.path if isinstance(spec, LocalModel) else f"resources/models/{name}"

    def toy_params(self, name: str) -> dict[str, Any]:
        spec = self.model(name)
        if not isinstance(spec, ToyModel):
            raise ConfigError(f"model {name!r} is a {spec.source} model, not a toy; only toys are trained")
        return {"arch": spec.arch, "seed": spec.seed, "overrides": spec.training.overrides()}

    def haystack_params(self, name: str) -> dict[str, Any]:
        """The haystack dict of hybrid_retrieval.experiments; a toy's synthetic language is its own seed's."""
        hay = self.haystack
        if hay.kind == "paul_graham":
            return {"kind": "paul_graham", "commit": hay.commit, "sha256": hay.sha256}
        spec = self.model(name)
        language_seed = hay.language_seed
        if language_seed is None:
            language_seed = spec.seed if isinstance(spec, ToyModel) else 0
        return {"kind": "synthetic", "language_seed": language_seed, "seed": hay.seed}

    def settings(self, section: str) -> dict[str, Any]:
        """An experiment's own settings: not which models, not the grid (those have their own params)."""
        return getattr(self.experiments, section).model_dump(
            mode="json", exclude={"enabled", "models", "grid"}
        )


# ----------------------------------------------------------------------------------------- load, export


def _location(loc: tuple[Any, ...]) -> str:
    # pydantic puts the union member's tag ("toy", "hub") into the path; the user wrote no such key.
    return ".".join(str(p) for p in loc if p not in ("toy", "hub", "local")) or "(top level)"


def load_config(data: dict[str, Any]) -> Config:
    """Validate a config mapping; raises ConfigError listing each bad key with the reason."""
    try:
        return Config.model_validate(data)
    except pydantic.ValidationError as err:
        lines = []
        for e in err.errors():
            where = _location(e["loc"])
            if e["type"] == "extra_forbidden":
                lines.append(
                    f"{where}: unknown key (a typo? see workflow/schemas/config.schema.yaml for the allowed keys)"
                )
            else:
                lines.append(f"{where}: {e['msg']} (got {e.get('input')!r})")
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines)) from err


def load_config_file(path: str | Path) -> Config:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"config file {path} does not exist; use config/config.yaml, config/paper.yaml or config/smoke.yaml"
        )
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping at the top level, got {type(data).__name__}"
        )
    return load_config(data)


def json_schema() -> dict[str, Any]:
    """The JSON schema of `Config` (draft 2020-12), as written to workflow/schemas/config.schema.yaml."""
    schema = Config.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_yaml() -> str:
    header = "# Generated from hybrid_retrieval.config.Config; do not edit. Regenerate: hybrid-retrieval export-schema\n"
    return header + yaml.safe_dump(json_schema(), sort_keys=True, default_flow_style=False, width=110)


def export_schema(path: str | Path = SCHEMA_PATH) -> Path:
    from hybrid_retrieval.io import write_text

    return write_text(schema_yaml(), path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hybrid_retrieval.config", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--export-schema",
        metavar="PATH",
        nargs="?",
        const=str(SCHEMA_PATH),
        help="write the JSON schema (YAML)",
    )
    parser.add_argument("--check", metavar="CONFIG", help="validate a config file and exit")
    args = parser.parse_args(argv)
    if args.export_schema:
        print(export_schema(args.export_schema))
    if args.check:
        try:
            load_config_file(args.check)
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"{args.check}: valid")
    if not (args.export_schema or args.check):
        parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
