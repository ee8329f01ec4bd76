"""Section `models`: toy, hub and local model sources (and the toy head count the cross-checks use)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic
from pydantic import Field

from hybrid_retrieval.config._base import (
    REPO_ID_PATTERN,
    REVISION_HELP,
    REVISION_PATTERN,
    Dtype,
    PrefillBoundary,
    PromptVariant,
    Strict,
    check_revision,
)
from hybrid_retrieval.models.toy_sizes import MODEL_DEFAULTS

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
    mc_train_splits: list[Literal["dev", "test"]] | None = Field(None, min_length=1)
    model: dict[str, Any] | None = None  # merged into the architecture's model defaults (hidden_size, ...)

    def overrides(self) -> dict[str, Any]:
        """The keyword arguments for `train_toy` (only the fields that are set)."""
        return self.model_dump(mode="json", exclude_none=True)


class ToyModel(Strict):
    """A tiny model of a real architecture, trained here on the synthetic language."""

    source: Literal["toy"] = Field(description="'toy': trained here on the synthetic language.")
    arch: Literal["recurrent_gemma", "jamba", "falcon_h1"] = Field(description="Architecture: the real transformers class at toy size (falcon_h1: issue 24's contrast, config/toy-falcon-h1.yaml).")
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

# ----------------------------------------------------------------------------------------- toy heads


def toy_num_heads(arch: str, model_overrides: dict[str, Any]) -> int:
    """Heads per attention layer of a toy model (architecture defaults + the config's overrides)."""
    values = {**MODEL_DEFAULTS[arch], **model_overrides}
    return int(values["num_attention_heads"])

