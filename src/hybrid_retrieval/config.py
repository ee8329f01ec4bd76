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
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import Field

from hybrid_retrieval.claims import ClaimsConfig
from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.tasks.glue import GLUE_TASK_NAMES
from hybrid_retrieval.tasks.haystack import ESSAY_BASE_URL, ESSAY_COMMIT, ESSAY_SHA256

SCHEMA_PATH = Path("workflow/schemas/config.schema.yaml")
# Model names become path components and Snakemake wildcard values: kebab-case, no "_" or "/".
MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9.-]*$"
SHA40_PATTERN = r"^[0-9a-f]{40}$"
# A hub revision: a 40-hex commit sha, or a branch/tag name (resolved once and locked, see locking.py).
REVISION_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}$"
REVISION_HELP = (
    "a 40-hex commit sha, or a branch/tag (e.g. main) resolved once to its commit and written to the "
    "config's lock file (config/<name>.lock.yaml); refresh: python -m hybrid_retrieval.locking --refresh <config>"
)


def check_revision(value: str) -> str:
    """Refuse the all-zero placeholder sha and names git cannot hold (.., a trailing / or .lock)."""
    if set(value) == {"0"}:
        raise ValueError("revision is all zeros (a placeholder, not a commit); " + REVISION_HELP)
    if ".." in value or value.endswith(("/", ".", ".lock")):
        raise ValueError(f"revision {value!r} is not a valid branch, tag or commit name; " + REVISION_HELP)
    return value


REPO_ID_PATTERN = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
RUN_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"

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
# Where prefill ends (the paper's phases; ARTIFACT.md): "auto" = the authors' choice for the architecture
# (RecurrentGemma: last_token_as_generation; Jamba: whole_prompt), see evaluate.resolve_prefill_boundary.
PrefillBoundary = Literal["auto", "last_token_as_generation", "whole_prompt"]
# k values of a list: an int (heads kept per attention layer) or "H" (= all heads of the model).
HeadCount = Annotated[int, Field(ge=0)] | Literal["H"]
GlueTaskName = Literal[GLUE_TASK_NAMES]  # type: ignore[valid-type]  # lm-eval's glue tasks


class Strict(pydantic.BaseModel):
    """Base of every section: unknown keys are errors, values are immutable once validated."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------------------------------------ models


class ToyTraining(Strict):
    """Overrides of `models.toy.ToyTrainConfig` (None = the architecture's default recipe).

    Mirrors that dataclass field by field (a test checks the names) so the config can be validated
    without importing torch; `models.toy.make_config` re-checks the values when training starts."""

    steps: int | None = Field(None, ge=1, le=1_000_000, description="Training steps.")
    lr: float | None = Field(None, gt=0, le=1, description="Peak learning rate (AdamW, warmup + cosine).")
    # [length, fraction of steps] or [length, fraction of steps, knowledge fraction of the stage]
    curriculum: list[tuple[int, float] | tuple[int, float, float]] | None = Field(None, min_length=1)
    tokens_per_step: int | None = Field(None, ge=48)
    """Tokens per training step (sequences per step = this // the stage's length; >= the longest stage)."""
    warmup_steps: int | None = Field(None, ge=0)
    """Linear learning-rate warmup steps before the cosine decay."""
    weight_decay: float | None = Field(None, ge=0)
    """AdamW weight decay."""
    grad_clip: float | None = Field(None, gt=0)
    """Gradient norm clipping threshold."""
    knowledge_fraction: float | None = Field(None, ge=0, lt=1)
    mc_share: float | None = Field(None, ge=0, le=1)  # share of knowledge sequences that are MC prompts
    mc_open_book: float | None = Field(
        None, ge=0, le=1
    )  # share of MC prompts with each question's fact before it
    loss_mean: Literal["token", "sequence"] | None = None  # average the loss over tokens or per sequence
    variant_weights: list[tuple[PromptVariant, float]] | None = None
    """[prompt variant, weight] pairs: how often training sequences use each prompt variant."""
    compact_below: int | None = Field(None, ge=0, le=8193)
    max_needles: int | None = Field(None, ge=1, le=8)
    """Most needles hidden in one training sequence (at least 1, drawn uniformly)."""
    max_questions: int | None = Field(None, ge=1, le=8)
    """Most needles asked about in one training sequence (<= max_needles)."""
    eval_lengths: list[Annotated[int, Field(ge=48)]] | None = Field(None, min_length=1)
    """Context lengths of the held-out retrieval check run after training (toy_metadata.json)."""
    eval_trials: int | None = Field(None, ge=1)
    """Held-out retrieval trials of that check, over all its lengths."""
    mc_shots: list[Annotated[int, Field(ge=0, le=5)]] | None = None
    """Shot counts at which the post-training check measures multiple-choice accuracy."""
    threads: int | None = Field(None, ge=1, le=64)
    # which knowledge splits the toy sees as facts in training ("test" included = MMLU stand-in of known facts)
    mc_train_splits: list[Literal["dev", "train", "test"]] | None = Field(None, min_length=1)
    model: dict[str, Any] | None = None  # merged into the architecture's model defaults (hidden_size, ...)

    def overrides(self) -> dict[str, Any]:
        """The keyword arguments for `train_toy` (only the fields that are set)."""
        return self.model_dump(mode="json", exclude_none=True)


class ToyModel(Strict):
    """A tiny model of a real architecture, trained here on the synthetic language."""

    source: Literal["toy"] = Field(description="'toy': trained here on the synthetic language.")
    arch: Literal["recurrent_gemma", "jamba"] = Field(description="Architecture: the real transformers class at toy size.")
    seed: int = Field(0, ge=0)  # also the seed of its synthetic language (vocabulary, needles, facts)
    training: ToyTraining = ToyTraining()
    dtype: Dtype = Field("float32", description="dtype of the weights when loaded.")
    chat_template: bool = False  # prompt variants chat / chat_jrt instead of base / jrt
    prefill_boundary: PrefillBoundary = Field("auto", description="Where prefill ends: 'auto' = the authors' choice for the architecture.")


class HubModel(Strict):
    """A Hugging Face hub model, downloaded at one exact commit into the HF cache (safetensors only)."""

    source: Literal["hub"] = Field(description="'hub': downloaded from the Hugging Face hub at a locked commit.")
    repo_id: str = Field(pattern=REPO_ID_PATTERN, description="Hub model repository (org/name).")
    revision: str = Field(pattern=REVISION_PATTERN, description=REVISION_HELP)
    dtype: Dtype = Field("bfloat16", description="dtype of the weights when loaded.")

    @pydantic.field_validator("revision")
    @classmethod
    def _real_revision(cls, value: str) -> str:
        return check_revision(value)
    chat_template: bool = Field(False, description="Use the chat prompt variants (chat / chat_jrt) instead of base / jrt.")
    prefill_boundary: PrefillBoundary = Field("auto", description="Where prefill ends: 'auto' = the authors' choice for the architecture.")


class LocalModel(Strict):
    """A model already on disk in hub-snapshot layout (config.json, *.safetensors, tokenizer files)."""

    source: Literal["local"] = Field(description="'local': a directory already on disk.")
    path: str = Field(min_length=1, description="Directory in hub-snapshot layout (config.json, *.safetensors, tokenizer files).")
    dtype: Dtype = Field("float32", description="dtype of the weights when loaded.")
    chat_template: bool = Field(False, description="Use the chat prompt variants (chat / chat_jrt) instead of base / jrt.")
    prefill_boundary: PrefillBoundary = Field("auto", description="Where prefill ends: 'auto' = the authors' choice for the architecture.")


_FAMILY_HINTS = (("recurrentgemma", "recurrent_gemma"), ("recurrent-gemma", "recurrent_gemma"), ("jamba", "jamba"))

ModelSpec = Annotated[ToyModel | HubModel | LocalModel, Field(discriminator="source")]
ModelName = Annotated[str, Field(pattern=MODEL_NAME_PATTERN)]

# ------------------------------------------------------------------------------------ haystack and grid


class Haystack(Strict):
    """Where the needle test's filler text comes from."""

    kind: Literal["synthetic", "paul_graham"] = Field("synthetic", description="Filler text: 'synthetic' = the toy language's; 'paul_graham' = the pinned essays (real models only).")
    # synthetic: which filler text of the language. The language itself is the toy model's (its seed);
    # `language_seed` sets it for non-toy models (and overrides it for toys, which then see unknown words).
    seed: int = Field(0, ge=0)
    language_seed: int | None = Field(None, ge=0)
    """synthetic: seed of the language of the filler (None = the toy model's own seed; needed by non-toy models)."""
    # paul_graham: the pinned essays (gkamradt/LLMTest_NeedleInAHaystack), hash-checked.
    base_url: str = ESSAY_BASE_URL
    commit: str = Field(ESSAY_COMMIT, pattern=r"^[0-9a-f]{7,40}$")
    """paul_graham: the commit of gkamradt/LLMTest_NeedleInAHaystack the essays are downloaded at."""
    sha256: str = Field(ESSAY_SHA256, pattern=r"^[0-9a-f]{64}$")
    """paul_graham: sha256 of the essays' concatenation, checked after the download."""
    from_dir: str | None = None  # offline: copy the essays from this folder instead of downloading
    essays: Literal["authors", "sorted49"] = Field(
        "authors",
        description="paul_graham: 'authors' = the authors' 47 essays in their order (useful.txt, newideas.txt, "
        "...; pinned in tasks/data/authors_essay_order.json); 'sorted49' = all 49 files, sorted (deviation)",
    )


class Grid(Strict):
    """The needle-in-a-haystack grid and decoding shared by every retrieval experiment."""

    context_lengths: list[Annotated[int, Field(ge=16)]] = Field(min_length=1, description="Context lengths of the needle test, in tokens (the prompt frame included).")
    depths: list[Annotated[float, Field(ge=0, le=100)]] = Field(min_length=1, description="Needle depths, in percent of the haystack (0 = start, 100 = end).")
    frame_reserve: int = Field(200, ge=0)  # prompt-frame tokens inside each context length
    max_new_tokens: int = Field(40, ge=1, le=4096, description="Greedy decoding budget per trial, in tokens.")
    batch_size: int = Field(1, ge=1, description="Trials per forward pass.")
    trials_per_cell: int = Field(1, ge=1, description="Trials per context length x depth cell.")
    seed: int = Field(0, ge=0, description="Seed of the trials' needles and filler.")
    needle_format: Literal["own_line", "inline"] = Field(
        "own_line",
        description="'own_line' = the authors' needle text \\n<sentence>\\n; 'inline' = joined with spaces (deviation)",
    )
    needle_text: Literal["authors", "ours"] = Field(
        "authors",
        description="'authors' = the paper's needle as the authors' stored prompts carry it per prompt kind "
        "(base: '\\n The best ...\\n', one more space; JRT and chat: '\\nThe best ...\\n'); 'ours' = "
        "'\\n' + sentence + '\\n' for every kind (deviation). Synthetic needles are always '\\n' + sentence + '\\n'",
    )
    scoring: Literal["authors", "word_lcs"] = Field(
        "authors",
        description="'authors' = NIAH eval.py: exact if the cleaned needle is a raw substring, else keyword "
        "points (paper needle); 'word_lcs' = word-boundary exact match and LCS partial points (deviation)",
    )
    insertion: Literal["period_token", "sentence_end"] = Field(
        "period_token",
        description="needle insertion point moved back to the nearest preceding '.' token (authors) or to a "
        "'.' followed by whitespace ('sentence_end', deviation)",
    )


class GridOverride(Strict):
    """Per-experiment subset of the grid (None = the shared grid's value)."""

    context_lengths: list[Annotated[int, Field(ge=16)]] | None = Field(None, min_length=1, description="This experiment's context lengths (None = retrieval.context_lengths).")
    depths: list[Annotated[float, Field(ge=0, le=100)]] | None = Field(None, min_length=1, description="This experiment's depths (None = retrieval.depths).")
    trials_per_cell: int | None = Field(None, ge=1, description="This experiment's trials per cell (None = retrieval.trials_per_cell).")


# ------------------------------------------------------------------------------------------- datasets


class HubDataset(Strict):
    """A hub dataset repository, downloaded by the workflow (rule download_dataset) at one exact commit
    into the HF cache; `resources/datasets/<repo_id>/snapshot.json` records {repo_id, revision, commit, path}."""

    repo_id: str = Field(pattern=REPO_ID_PATTERN, description="Hub dataset repository (org/name).")
    revision: str = Field("main", pattern=REVISION_PATTERN, description=REVISION_HELP)

    @pydantic.field_validator("revision")
    @classmethod
    def _real_revision(cls, value: str) -> str:
        return check_revision(value)


class Datasets(Strict):
    """Hub sources of the evaluation datasets (the repos lm-eval 0.4's tasks read). A source is
    downloaded only when an experiment uses it: MMLU when experiments.mmlu.dataset is "hub", GLUE when an
    enabled experiments.glue section reads the hub (see Config.hub_datasets_in_use)."""

    mmlu: HubDataset = HubDataset(repo_id="cais/mmlu")
    """MMLU's hub dataset, read when experiments.mmlu.dataset is "hub"."""
    glue: HubDataset = HubDataset(repo_id="nyu-mll/glue")
    """GLUE's hub dataset, read when experiments.glue is enabled with dataset "hub"."""


# ----------------------------------------------------------------------------------------- experiments


class Experiment(Strict):
    enabled: bool = Field(True, description="Run this experiment.")
    models: list[ModelName] | None = None  # None = every model of the config
    grid: GridOverride = GridOverride()


class Baseline(Experiment):
    """E1: no intervention."""


class AttentionAblation(Experiment):
    """E2: k = 0 (every head of every attention layer zeroed), per phase."""

    phases: list[Phase] = Field(["generation", "all"], min_length=1, description="Phases with every attention head ablated (k = 0): generation steps only and/or all positions.")


class JustReadTwice(Experiment):
    """E3: standard vs JRT prompt at each k (entropy top-k)."""

    k: list[HeadCount] = Field([0, 1, 2], min_length=1, description="Heads kept per attention layer at which standard and JRT prompts are compared ('H' = all).")
    phase: Phase = Field("generation", description="Phase of the top-k sparsification.")


class Exposure(Experiment):
    """E6: needle exposure, every generation mode x every prefill mode."""

    generation_modes: list[GenerationMode] = Field(["keep", "omit", "only", "balanced", "null"], min_length=1, description="Needle-exposure modes during generation steps (one condition each; docs/INTERFACES.md).")
    prefill_modes: list[PrefillMode] = Field(["keep", "follow"], min_length=1, description="Needle-exposure modes during prefill; 'follow' = the generation mode.")
    rule: Literal["authors", "per_head_causal"] = Field(
        "authors",
        description="'authors' = their exposure math: one head-mean `balanced` scalar per call on every head and "
        "query, and no manipulation at a step whose needle is out of the window; 'per_head_causal' = ours "
        "(each head's own mass over the needle keys each query sees; acts out of the window too) (deviation)",
    )
    # The authors ran exposure inside their sparsification k loop (NIAH pred.py); their k for it is not
    # recorded (no stored config has a weight_manipulation section). Every stored RecurrentGemma-2B config
    # has k = [10] = all its heads, in generation: the default is H (deviations table, "Exposure k").
    k: HeadCount = Field("H", description="Heads kept per attention layer by entropy top-k while the exposure modes run ('H' = all heads, the default: sparsification a no-op).")
    phase: Phase = Field("generation", description="Phase of that top-k sparsification during the exposure grid.")


class RandomHeads(Strict):
    enabled: bool = Field(True, description="Run the random-heads control.")
    seeds: list[Annotated[int, Field(ge=0)]] = Field([0], min_length=1, description="Seeds of the random head draws (one condition each).")


class StaticHeads(Strict):
    enabled: bool = Field(True, description="Run the static-heads control.")
    rank_by: Literal["entropy_rank", "ablation_rank"] = Field("entropy_rank", description="Ranking that picks the static heads (experiments.head_scores): mean entropy or ablation drop.")


class SparsitySweep(Experiment):
    """E4: entropy top-k for each k, with our random-k and static-head controls at matched k."""

    k: Literal["all"] | list[HeadCount] = "all"  # "all" = 0..H
    phases: list[Phase] = Field(["generation"], min_length=1, description="Phases of the k sweep.")
    random_k: RandomHeads = Field(RandomHeads(), description="Control: k random heads per layer at each k.")
    static_heads: StaticHeads = Field(StaticHeads(), description="Control: a fixed head set, ranked once, at each k.")


class Controls(Experiment):
    """Ours: each attention layer ablated alone, each SSM/recurrent (mixer) layer ablated alone."""

    single_layer: bool = Field(True, description="Ablate each attention layer alone (one condition per layer).")
    mixer_layers: bool = Field(True, description="Ablate each SSM/recurrent mixer layer alone (one condition per layer).")
    phase: Phase = Field("all", description="Phase of the layer ablations: generation steps only, or all positions.")


class HeadScores(Experiment):
    """Per-head mean entropy and ablation effect (ranks the static-head control)."""

    phase: Phase = Field("generation", description="Phase in which a head is ablated to measure its drop.")
    max_answer_tokens: int = Field(40, ge=1, description="Answer tokens teacher-forced per probe trial when scoring heads.")


class Mmlu(Strict):
    """E5: multiple choice under prefill sparsity. dataset "toy" = the toy model's own MMLU-layout
    knowledge set (resources/models/<toy>/mc); "hub" = the `datasets.mmlu` hub dataset (cais/mmlu),
    downloaded by the workflow at a locked commit; otherwise an MMLU CSV directory, a .parquet file or
    "hub:<dataset>[:<config>]" (local datasets cache only)."""

    enabled: bool = Field(True, description="Run the multiple-choice experiment (E5).")
    models: list[ModelName] | None = Field(None, description="Models to run (None = every model of the config).")
    dataset: str = Field("toy", description="'toy' = the toy's MC set; 'hub' = datasets.mmlu at its locked commit; or a directory of MMLU CSVs.")
    num_shots: int = Field(5, ge=0, le=5)  # MMLU's dev split has 5 questions per subject
    k: list[HeadCount] = Field(["H", 0], min_length=1, description="Heads kept per attention layer, one condition each ('H' = all heads: the reference).")
    chat_template: bool | None = None  # None = the model's chat_template setting
    batch_size: int = Field(8, ge=1, description="Questions per forward pass.")
    max_questions_per_subject: int | None = Field(None, ge=1)  # None = all (first n per subject otherwise)


class Glue(Strict):
    """E5 (GLUE): lm-eval's `glue` tasks under prefill sparsity, at the same k as MMLU (hybrid_retrieval.glue_eval).
    dataset "hub" = the `datasets.glue` hub dataset (nyu-mll/glue), downloaded by the workflow at a locked
    commit; otherwise a local copy of that snapshot (a directory in the hub parquet layout)."""

    enabled: bool = False  # the toys know no English: GLUE is for the real models (config/paper.yaml)
    models: list[ModelName] | None = Field(None, description="Models to run (None = every model of the config).")
    dataset: str = Field("hub", description="Where GLUE comes from: 'hub' = datasets.glue at its locked commit.")
    tasks: list[GlueTaskName] = Field(list(GLUE_TASK_NAMES), min_length=1)  # lm-eval's `glue` tag
    num_shots: int | None = Field(None, ge=0)  # None = experiments.mmlu.num_shots (one num_fewshot for both)
    k: list[HeadCount] | None = Field(None, min_length=1)  # None = experiments.mmlu.k
    chat_template: bool | None = None  # None = the model's chat_template setting
    batch_size: int = Field(8, ge=1, description="Documents per forward pass.")
    fewshot_seed: int = Field(1234, ge=0)  # lm-eval's default fewshot_random_seed
    max_docs_per_task: int | None = Field(None, ge=1)  # None = every validation document (first n otherwise)


class Recordings(Experiment):
    """E7: which heads the entropy rule keeps per step, and attention mass on the needle."""

    k: HeadCount = Field(1, description="Heads kept per attention layer by the entropy rule while recording.")
    phase: Phase = Field("generation", description="Phase of the top-k sparsification while recording.")
    max_trials: int = Field(4, ge=1)  # the first n trials of the grid, by (length, depth)
    max_new_tokens: int = Field(12, ge=1, description="Decoding budget of each recorded trial.")


class Probe(Strict):
    """One probe prompt of `experiments.attention_maps`: a needle-test prompt of the grid's kind."""

    context_length: int = Field(ge=16, description="Context length of the probe prompt, in tokens (the prompt frame included).")
    depth: float = Field(ge=0, le=100, description="Needle depth of the probe prompt, in percent of the haystack.")


class AttentionMaps(Strict):
    """The authors' raw attention maps (NIAH get_attention_weights.py; pred.py `save_attn`): on a few probe
    prompts, every attention layer's post-softmax probabilities (every head, each generated step's query,
    before any intervention) and the heads entropy top-k keeps per step, written per layer as float16 npz."""

    enabled: bool = Field(True, description="Run this experiment.")
    models: list[ModelName] | None = None  # None = every model of the config
    # The authors' two probe files: Huggingface_250_100_prompts.json and Huggingface_4096_0_prompts.json.
    probes: list[Probe] = Field(
        [Probe(context_length=250, depth=100), Probe(context_length=4096, depth=0)],
        min_length=1,
        description="Probe prompts (context length, needle depth); default: the authors' 250 tokens / depth 100 and 4096 / depth 0.",
    )
    # The authors recorded without sparsification (get_attention_weights.py) or inside their k loop (pred.py),
    # whose stored RecurrentGemma-2B configs all have k = 10 = all heads: H.
    k: HeadCount = Field("H", description="Heads kept per attention layer by the entropy rule while the maps are recorded ('H' = all heads: no sparsification).")
    phase: Phase = Field("generation", description="Phase of that top-k sparsification.")
    max_new_tokens: int | None = Field(None, ge=1, description="Generated steps recorded per probe (None = retrieval.max_new_tokens).")

    @pydantic.field_validator("probes")
    @classmethod
    def _distinct_probes(cls, probes: list[Probe]) -> list[Probe]:
        seen = [(p.context_length, p.depth) for p in probes]
        repeated = sorted({pair for pair in seen if seen.count(pair) > 1})
        if repeated:
            raise ValueError(f"probes {repeated} are listed more than once; list each (context_length, depth) once")
        return probes


class Experiments(Strict):
    baseline: Baseline = Baseline()
    attention_ablation: AttentionAblation = AttentionAblation()
    jrt: JustReadTwice = JustReadTwice()
    exposure: Exposure = Exposure()
    sparsity_sweep: SparsitySweep = SparsitySweep()
    controls: Controls = Controls()
    head_scores: HeadScores = HeadScores()
    mmlu: Mmlu = Mmlu()
    glue: Glue = Glue()
    recordings: Recordings = Recordings()
    attention_maps: AttentionMaps = AttentionMaps()


# -------------------------------------------------------------------------------------------- report


class Report(Strict):
    figure_formats: list[Literal["vl.json", "html", "svg", "pdf"]] = Field(
        ["vl.json", "svg", "pdf"], min_length=1, description="Formats each figure is written in (results/figures/)."
    )
    # auto = build paper/build/main.pdf when a LaTeX engine (latexmk or pdflatex) is on PATH.
    paper_pdf: bool | Literal["auto"] = "auto"


class Sparsification(Strict):
    """How entropy top-k ranks heads (every experiment that sparsifies: E2-E5, E7)."""

    head_score: Literal["entropy", "l2"] = Field(
        "entropy",
        description="'entropy' = keep the k lowest-entropy heads (the authors' configs); 'l2' = keep the k heads "
        "with the largest L2 norm of their attention distribution (the default of the authors' function)",
    )


# Sections whose conditions rank heads (they receive `head_score` in their settings).
SPARSIFYING_SECTIONS = (
    "attention_ablation", "jrt", "exposure", "sparsity_sweep", "recordings", "attention_maps", "mmlu", "glue"
)


class Config(Strict):
    """The whole workflow configuration (config/config.yaml, config/paper.yaml, config/smoke.yaml)."""

    # The run's name: its outputs (results/, resources/, logs/, paper/) go to runs/<run>/, apart from every
    # other run's. None = the working directory itself (the default toy config, as before).
    run: str | None = Field(None, pattern=RUN_NAME_PATTERN)
    models: dict[ModelName, ModelSpec] = Field(min_length=1)
    """The models to evaluate, by name (kebab-case; a path component of every output): toy, hub or local."""
    # auto = cuda when available; cuda = every visible GPU (a model too big for one is spread over several,
    # device_map); cuda:N = that GPU. A cuda job on a machine without a usable GPU fails at its start.
    device: str = Field("cpu", pattern=r"^(cpu|auto|mps|cuda(:[0-9]+)?)$")
    # CPU float kernels of every job that computes results (hybrid_retrieval.numerics): portable = the same
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

    # --------------------------------------------------------------------------- hub revisions and data

    def hub_datasets_in_use(self) -> dict[str, HubDataset]:
        """The `datasets` sources some enabled experiment reads from the hub: {"mmlu": ..., "glue": ...}."""
        used: dict[str, HubDataset] = {}
        if self.experiments.mmlu.enabled and self.experiments.mmlu.dataset == "hub" and self.models_for("mmlu"):
            used["mmlu"] = self.datasets.mmlu
        glue = getattr(self.experiments, "glue", None)
        if glue is not None and getattr(glue, "enabled", False) and getattr(glue, "dataset", "hub") == "hub":
            used["glue"] = self.datasets.glue
        return used

    def with_commits(self, commits: dict[str, str | None]) -> Config:
        """This config with each hub revision replaced by its commit ({"models/org/repo": sha, ...}, as
        hybrid_retrieval.locking writes); refs without a commit (a dry run without hub) stay as written."""
        models = {
            name: spec.model_copy(update={"revision": commits.get(f"models/{spec.repo_id}") or spec.revision})
            if isinstance(spec, HubModel)
            else spec
            for name, spec in self.models.items()
        }
        datasets = self.datasets.model_copy(
            update={
                name: d.model_copy(update={"revision": commits.get(f"datasets/{d.repo_id}") or d.revision})
                for name, d in ((n, getattr(self.datasets, n)) for n in type(self.datasets).model_fields)
            }
        )
        return self.model_copy(update={"models": models, "datasets": datasets})

    def dataset_record(self, name: str) -> str:
        """Where rule download_dataset writes the snapshot record of `datasets.<name>`."""
        return f"resources/datasets/{getattr(self.datasets, name).repo_id}/snapshot.json"

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

    def model_families(self) -> dict[str, str | None]:
        """model -> architecture family as far as the config tells it (the claims' scope column): a toy's
        arch; a hub repo id naming RecurrentGemma or Jamba; None (unknown here) otherwise."""
        families: dict[str, str | None] = {}
        for name, spec in self.models.items():
            if isinstance(spec, ToyModel):
                families[name] = spec.arch
                continue
            where = (spec.repo_id if isinstance(spec, HubModel) else spec.path).lower()
            families[name] = next((f for key, f in _FAMILY_HINTS if key in where), None)
        return families

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
        # numerics: not a training option, but it changes the weights, so a switch retrains (and reruns all after)
        return {
            "arch": spec.arch,
            "seed": spec.seed,
            "overrides": spec.training.overrides(),
            "numerics": self.numerics,
        }

    def haystack_params(self, name: str) -> dict[str, Any]:
        """The haystack dict of hybrid_retrieval.experiments; a toy's synthetic language is its own seed's."""
        hay = self.haystack
        if hay.kind == "paul_graham":
            return {"kind": "paul_graham", "commit": hay.commit, "sha256": hay.sha256, "essays": hay.essays}
        spec = self.model(name)
        language_seed = hay.language_seed
        if language_seed is None:
            language_seed = spec.seed if isinstance(spec, ToyModel) else 0
        return {"kind": "synthetic", "language_seed": language_seed, "seed": hay.seed}

    def settings(self, section: str) -> dict[str, Any]:
        """An experiment's own settings: not which models, not the grid (those have their own params);
        sections that sparsify also get the config's `sparsification.head_score`."""
        settings = getattr(self.experiments, section).model_dump(
            mode="json", exclude={"enabled", "models", "grid"}
        )
        if section in SPARSIFYING_SECTIONS:
            settings["head_score"] = self.sparsification.head_score
        return settings


# ----------------------------------------------------------------------------------------- toy heads


@cache
def _toy_model_defaults() -> dict[str, dict[str, Any]]:
    """`models.toy.recipe._MODEL_DEFAULTS`, read from its source (importing it would import torch)."""
    import ast

    source = Path(__file__).with_name("models") / "toy" / "recipe.py"
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        target = node.target if isinstance(node, ast.AnnAssign) else (node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id == "_MODEL_DEFAULTS" and node.value is not None:
            return ast.literal_eval(node.value)
    raise ConfigError(f"{source} has no _MODEL_DEFAULTS literal; the toy head count cannot be checked")


def toy_num_heads(arch: str, model_overrides: dict[str, Any]) -> int:
    """Heads per attention layer of a toy model (architecture defaults + the config's overrides)."""
    values = {**_toy_model_defaults()[arch], **model_overrides}
    return int(values["num_attention_heads"])


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
            f"config file {path} does not exist"
            + (f" (relative to the working directory {Path.cwd()}: run from the repository root)" if not path.is_absolute() else "")
            + "; pass --config PATH, e.g. the repository's config/config.yaml, config/paper.yaml or config/smoke.yaml"
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
