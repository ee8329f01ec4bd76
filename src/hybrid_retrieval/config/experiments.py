"""Sections `experiments` (E1-E7 and our controls, one model each) and `sparsification` (how entropy
top-k ranks heads)."""

from __future__ import annotations

from typing import Annotated, Literal

import pydantic
from pydantic import Field

from hybrid_retrieval.config._base import GenerationMode, HeadCount, ModelName, Phase, PrefillMode, Strict
from hybrid_retrieval.config.retrieval import GridOverride
from hybrid_retrieval.tasks.glue import GLUE_TASK_NAMES

# Retrieval experiment name (file name, `experiment` column) -> its config section.
EXPERIMENT_SECTIONS = {
    "baseline": "baseline",
    "attention_ablated": "attention_ablation",
    "jrt": "jrt",
    "exposure": "exposure",
    "controls": "controls",
    "sparsity_sweep": "sparsity_sweep",
}

GlueTaskName = Literal[GLUE_TASK_NAMES]  # type: ignore[valid-type]  # lm-eval's glue tasks


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
    """E5 (GLUE): lm-eval's `glue` tasks under prefill sparsity, at the same k as MMLU (hybrid_retrieval.jobs.glue_eval).
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

