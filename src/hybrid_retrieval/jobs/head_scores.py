"""Static-head control ranking and k-sweep helpers (our control next to the paper's dynamic top-k).

`head_scores` ranks every attention head two ways, because attention statistics alone can mislead
(in our Jamba toy 7 of 8 heads looked alike by attention while one carried retrieval):
- mean attention entropy over the probe prompts (lower = more peaked = rank 0), read through the
  interventions' recorder under the no-op spec;
- ablation drop: how much the log-probability of the needle answer falls when only that head is zeroed
  (static_heads keeping all others), the answer teacher-forced through the generation path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import torch

from hybrid_retrieval.analysis.retention import smallest_k_keeping  # noqa: F401  (moved; torch-free for aggregate)
from hybrid_retrieval.errors import ConfigError, DataError
from hybrid_retrieval.io import write_parquet
from hybrid_retrieval.rows import HEAD_SCORE_SCHEMA  # the columns of a head-score row

HeadKey = tuple[int, int]  # (layer_index, head)


def all_heads(loaded) -> list[HeadKey]:
    return [
        (layer.layer_index, h)
        for layer in loaded.adapter.attention_layers(loaded.model)
        for h in range(layer.num_heads)
    ]


def _device(model) -> torch.device:
    return next(model.parameters()).device


def answer_ids(tokenizer, trial, max_tokens: int) -> list[int]:
    """The needle sentence's token ids as they follow the prompt (joint encoding when it extends it)."""
    joint = tokenizer.encode(trial.prompt + trial.needle)
    prompt = list(trial.input_ids)
    if joint[: len(prompt)] == prompt and len(joint) > len(prompt):
        ids = joint[len(prompt) :]
    else:
        # The tokenizer merged across the boundary (e.g. "▁The"): the needle on its own is what greedy
        # generation would have to produce anyway.
        ids = tokenizer.encode(trial.needle, add_special_tokens=False)
    if tokenizer.eos_token_id is not None and ids and ids[-1] == tokenizer.eos_token_id:
        ids = ids[:-1]
    if not ids:
        raise DataError(f"trial {trial.trial_id}: the needle {trial.needle!r} encodes to no tokens")
    return ids[:max_tokens]


@torch.inference_mode()
def forced_answer_logprob(loaded, trial, answer: Sequence[int]) -> float:
    """Sum of log p(answer token) with the answer forced through `generate`'s cached decoding path.

    Going through generation (not one teacher-forced forward) keeps the paper's phase semantics: a
    generation-phase intervention acts on exactly the single-token steps it would act on in retrieval.
    """
    model = loaded.model
    prompt = torch.tensor([list(trial.input_ids)], device=_device(model))
    start = prompt.shape[1]

    def force(_batch: int, ids: torch.Tensor) -> list[int]:
        return [answer[min(len(ids) - start, len(answer) - 1)]]

    out = model.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        max_new_tokens=len(answer),
        min_new_tokens=len(answer),
        do_sample=False,
        prefix_allowed_tokens_fn=force,
        output_logits=True,
        return_dict_in_generate=True,
        pad_token_id=loaded.tokenizer.pad_token_id or loaded.tokenizer.eos_token_id or 0,
    )
    total = 0.0
    for step_logits, tok in zip(out.logits, answer, strict=True):  # raw logits, before the forcing
        total += torch.log_softmax(step_logits[0].float(), dim=-1)[tok].item()
    return total


@torch.inference_mode()
def mean_head_entropy(loaded, trials) -> dict[HeadKey, float]:
    """Mean attention entropy per head over every query position of the probe prompts."""
    from hybrid_retrieval.interventions import InterventionSpec, apply_intervention

    heads = all_heads(loaded)
    probe = InterventionSpec(kind="none")  # changes nothing; the recorder still sees every attention call
    sums: dict[HeadKey, float] = dict.fromkeys(heads, 0.0)
    counts: dict[HeadKey, int] = dict.fromkeys(heads, 0)

    def record(layer_index, phase, entropy, kept, needle_mass) -> None:
        per_head = entropy.float().sum(dim=(0, 2))  # [b, h, q] -> [h]
        n = entropy.shape[0] * entropy.shape[2]
        for h, value in enumerate(per_head.tolist()):
            sums[(layer_index, h)] += value
            counts[(layer_index, h)] += n

    device = _device(loaded.model)
    for trial in trials:
        ids = torch.tensor([list(trial.input_ids)], device=device)
        with apply_intervention(loaded, probe, needle_spans=[list(trial.needle_spans)], recorder=record):
            loaded.model(input_ids=ids, use_cache=False, logits_to_keep=1)
    silent = [key for key, n in counts.items() if n == 0]
    if silent:
        raise DataError(f"the attention recorder never reported heads {silent[:4]}...; no entropy to rank by")
    return {key: sums[key] / counts[key] for key in heads}


def head_scores(
    loaded,
    trials,
    *,
    phase: str = "generation",
    max_answer_tokens: int = 40,
    out_path: str | os.PathLike[str] | None = None,
) -> pl.DataFrame:
    """One row per (layer, head): mean_entropy, ablation_drop and their ranks (INTERFACES.md)."""
    from hybrid_retrieval.interventions import InterventionSpec, apply_intervention

    if not trials:
        raise ConfigError("head_scores needs at least one probe trial")
    heads = all_heads(loaded)
    entropy = mean_head_entropy(loaded, trials)
    answers = [answer_ids(loaded.tokenizer, t, max_answer_tokens) for t in trials]
    base = [forced_answer_logprob(loaded, t, a) for t, a in zip(trials, answers, strict=True)]
    drops: dict[HeadKey, float] = {}
    for head in heads:
        spec = InterventionSpec(kind="static_heads", heads=tuple(h for h in heads if h != head), phase=phase)
        ablated = []
        for trial, ans in zip(trials, answers, strict=True):
            with apply_intervention(loaded, spec, needle_spans=[list(trial.needle_spans)]):
                ablated.append(forced_answer_logprob(loaded, trial, ans))
        drops[head] = sum(b - a for b, a in zip(base, ablated, strict=True)) / len(trials)

    df = pl.DataFrame(
        {
            "model": [loaded.name] * len(heads),
            "layer_index": [layer for layer, _ in heads],
            "head": [h for _, h in heads],
            "mean_entropy": [entropy[k] for k in heads],
            "ablation_drop": [drops[k] for k in heads],
        },
        schema_overrides={"layer_index": pl.Int64, "head": pl.Int64},
    ).sort("layer_index", "head")
    # "ordinal" ranks break ties by (layer, head) order, so the ranking is deterministic.
    df = df.with_columns(
        (pl.col("mean_entropy").rank("ordinal") - 1).cast(pl.Int64).alias("entropy_rank"),
        (pl.col("ablation_drop").rank("ordinal", descending=True) - 1).cast(pl.Int64).alias("ablation_rank"),
    ).cast(HEAD_SCORE_SCHEMA)
    if out_path is not None:
        write_parquet(df, Path(out_path))
    return df


def static_heads_from_scores(
    scores: pl.DataFrame, k: int, *, rank_by: str = "entropy_rank"
) -> tuple[HeadKey, ...]:
    """The k best-ranked heads of every attention layer: the static control matched to dynamic top-k."""
    if rank_by not in ("entropy_rank", "ablation_rank"):
        raise ConfigError(f"rank_by must be 'entropy_rank' or 'ablation_rank', got {rank_by!r}")
    per_layer = scores.group_by("layer_index").len()
    too_few = per_layer.filter(pl.col("len") < k)
    if k < 0 or too_few.height:
        raise ConfigError(f"k={k} is outside 0..{per_layer['len'].min()} (heads per attention layer)")
    chosen = scores.sort("layer_index", rank_by).group_by("layer_index", maintain_order=True).head(k)
    return tuple(sorted(zip(chosen["layer_index"].to_list(), chosen["head"].to_list(), strict=True)))
