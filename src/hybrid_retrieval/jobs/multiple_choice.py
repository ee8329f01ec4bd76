"""Multiple-choice scoring by answer-letter log-likelihood, under an intervention (the paper's E5).

Semantics follow lm-evaluation-harness's `HFLM.loglikelihood` so that our choices equal lm-eval's
(`tests/model/test_lm_eval_agreement.py`): the context's trailing spaces move to the continuation, the
continuation's tokens are `encode(context + continuation)[len(encode(context)):]`, and special tokens are
added by the tokenizer's default unless the text already starts with the BOS string (chat templates).
When every letter continuation is one token — the usual case — one forward pass over the context gives
all four log-probabilities at its last position; otherwise each choice is scored as a full continuation.
`score_choices` is the same for any contexts and continuations (GLUE: " yes"/" no", "positive"...).

Batching never pads: recurrent state is corrupted by padding (transformers#31540), so only prompts of
equal token length share a forward pass.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import torch

from hybrid_retrieval import __version__
from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.infra.progress import Progress, duration
from hybrid_retrieval.io import write_parquet
from hybrid_retrieval.rows import MC_SCHEMA, intervention_values  # the columns of a multiple-choice row
from hybrid_retrieval.tasks.mmlu import LETTERS, MCQuestion, answer_continuations, format_prompt, select_shots


@dataclass(frozen=True)
class EncodedQuestion:
    index: int  # position in the caller's question list
    question_id: str
    context: list[int]  # token ids fed to the model
    continuations: tuple[list[int], ...]  # per choice A..D, the scored token ids

    @property
    def single_token(self) -> bool:
        return all(len(c) == 1 for c in self.continuations)


def _encode(tokenizer, text: str) -> list[int]:
    """lm-eval's `HFLM.tok_encode`: default special tokens unless the text already starts with BOS."""
    prefix_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    kwargs = {}
    if prefix_id is not None and text.startswith(tokenizer.decode(prefix_id)):
        kwargs["add_special_tokens"] = False
    return list(tokenizer.encode(text, **kwargs))


def encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-eval's `_encode_pair` for causal models."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = _encode(tokenizer, context + continuation)
    context_ids = _encode(tokenizer, context)
    return context_ids, whole[len(context_ids) :]


def question_ids(questions: Sequence[MCQuestion]) -> list[str]:
    """`<subject>-<index within the subject>`: readable, unique, stable for a given question file."""
    seen: dict[str, int] = {}
    ids = []
    for q in questions:
        n = seen.get(q.subject, 0)
        seen[q.subject] = n + 1
        ids.append(f"{q.subject}-{n:05d}")
    return ids


def question_key(q: MCQuestion) -> str:
    """16 hex digits of sha256 over the subject, the question and its set of choices: equal for the
    arrangements of one question (any order of its choices), different for distinct questions."""
    text = "\x1f".join([q.subject, q.question, *sorted(q.choices)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def encode_questions(
    tokenizer,
    questions: Sequence[MCQuestion],
    dev: Mapping[str, Sequence[MCQuestion]],
    *,
    num_shots: int,
    chat_template: bool,
) -> list[EncodedQuestion]:
    conts = answer_continuations(chat_template)
    encoded = []
    for i, (q, qid) in enumerate(zip(questions, question_ids(questions), strict=True)):
        shots = select_shots(dev, q.subject, num_shots)
        prompt = format_prompt(q, shots, subject=q.subject, chat_template=chat_template, tokenizer=tokenizer)
        pairs = [encode_pair(tokenizer, prompt, c) for c in conts]
        # The context encoding does not depend on the continuation (it is encode(context) each time).
        encoded.append(EncodedQuestion(i, qid, pairs[0][0], tuple(p[1] for p in pairs)))
    return encoded


def _device(model) -> torch.device:
    return next(model.parameters()).device


log = logging.getLogger(__name__)


@torch.inference_mode()
def _letter_logprobs_batched(
    model, items: Sequence[EncodedQuestion], batch_size: int, progress: Progress | None = None
) -> dict[int, list[float]]:
    """Fast path: log-softmax at the last context position, equal-length contexts batched together."""
    device = _device(model)
    out: dict[int, list[float]] = {}
    ordered = sorted(items, key=lambda e: (len(e.context), e.index))
    start = 0
    while start < len(ordered):
        length = len(ordered[start].context)
        group = [ordered[start]]
        while (
            start + len(group) < len(ordered)
            and len(group) < batch_size
            and len(ordered[start + len(group)].context) == length
        ):
            group.append(ordered[start + len(group)])
        start += len(group)
        input_ids = torch.tensor([e.context for e in group], device=device)  # [b, t]
        logits = model(input_ids=input_ids, use_cache=False, logits_to_keep=1).logits[:, -1].float()  # [b, v]
        logprobs = torch.log_softmax(logits, dim=-1)
        for row, e in zip(logprobs, group, strict=True):
            out[e.index] = [row[c[0]].item() for c in e.continuations]
        if progress is not None:
            progress.update(len(group))
    return out


@torch.inference_mode()
def _continuation_logprobs(
    model, items: Sequence[EncodedQuestion], batch_size: int, progress: Progress | None = None
) -> dict[int, list[float]]:
    """Multi-token continuations, as lm-eval's loglikelihood: each choice is its own sequence, the context
    plus the continuation without its last token, scored by the sum of the continuation's token log-probs.
    Sequences (of any question or choice) of equal length share a forward pass."""
    device = _device(model)
    jobs = []  # (fed length, question index, choice index, fed ids, continuation ids)
    for e in items:
        for j, cont in enumerate(e.continuations):
            if not cont:
                raise ConfigError(f"{e.question_id}: choice {j} encodes to no tokens; nothing to score")
            fed = (e.context + cont)[:-1]
            jobs.append((len(fed), e.index, j, fed, cont))
    jobs.sort(key=lambda job: job[:3])
    scores: dict[int, list[float]] = {e.index: [0.0] * len(e.continuations) for e in items}
    start = 0
    while start < len(jobs):
        group = [jobs[start]]
        while (
            start + len(group) < len(jobs)
            and len(group) < batch_size
            and jobs[start + len(group)][0] == jobs[start][0]
        ):
            group.append(jobs[start + len(group)])
        start += len(group)
        keep = max(len(job[4]) for job in group)
        input_ids = torch.tensor([job[3] for job in group], device=device)  # [b, t]
        logits = model(
            input_ids=input_ids, use_cache=False, logits_to_keep=keep
        ).logits.float()  # [b, keep, v]
        logprobs = torch.log_softmax(logits, dim=-1)
        for row, (_, index, j, _, cont) in zip(logprobs, group, strict=True):
            tail = row[keep - len(cont) :]  # the positions that predict the continuation's tokens
            scores[index][j] = sum(tail[i, tok].item() for i, tok in enumerate(cont))
        if progress is not None:
            progress.update(len(group))
    return scores


def letter_logprobs(
    model, encoded: Sequence[EncodedQuestion], batch_size: int, label: str | None = None
) -> dict[int, list[float]]:
    """index -> log-likelihood of each continuation (one forward pass per question when every
    continuation is one token, else one sequence per choice). With a `label`, progress lines (sequences
    scored of the total, rate, ETA) go to the log."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    fast = [e for e in encoded if e.single_token]
    slow = [e for e in encoded if not e.single_token]
    total = len(fast) + sum(len(e.continuations) for e in slow)
    progress = Progress(label, total, "sequences") if label is not None else None
    scores = _letter_logprobs_batched(model, fast, batch_size, progress)
    scores.update(_continuation_logprobs(model, slow, batch_size, progress))
    return scores


def check_prefill_spec(spec) -> None:
    """Multiple choice is one forward pass per sequence with no generation step: an intervention limited
    to generation steps would silently do nothing."""
    if spec.kind != "none" and spec.phase != "all":
        raise ConfigError(
            f"multiple choice has no generation step, so phase {spec.phase!r} would leave {spec.kind!r} "
            "without effect; use phase: all (the paper's prefill=True)"
        )


def score_choices(
    loaded,
    prompts: Sequence[tuple[str, Sequence[str]]],
    *,
    spec,
    batch_size: int,
    label: str | None = None,
) -> list[list[float]]:
    """Log-likelihood of each continuation after its context, under `spec` (phase all), per prompt in
    order: lm-eval's `loglikelihood` over `(context, continuation)` pairs, for any number of choices.
    With a `label` (e.g. "glue/rte top-2-heads on jamba"), progress lines go to the log."""
    from hybrid_retrieval.interventions import apply_intervention, validate_spec

    check_prefill_spec(spec)
    validate_spec(spec, loaded)
    encoded = []
    for i, (context, conts) in enumerate(prompts):
        pairs = [encode_pair(loaded.tokenizer, context, c) for c in conts]
        encoded.append(EncodedQuestion(i, str(i), pairs[0][0], tuple(p[1] for p in pairs)))
    with apply_intervention(loaded, spec):
        scores = letter_logprobs(loaded.model, encoded, batch_size, label=label)
    return [scores[i] for i in range(len(encoded))]


def score_multiple_choice(
    loaded,
    questions: Sequence[MCQuestion],
    dev: Mapping[str, Sequence[MCQuestion]],
    *,
    spec,
    num_shots: int,
    chat_template: bool,
    batch_size: int,
    out_path: str | os.PathLike[str] | None,
    dataset: str = "mmlu",
) -> pl.DataFrame:
    """One row per question (INTERFACES.md "Multiple choice"), sorted by (subject, question_id)."""
    from hybrid_retrieval.interventions import apply_intervention, model_fields, validate_spec

    check_prefill_spec(spec)
    validate_spec(spec, loaded)
    if not questions:
        raise ConfigError("no questions to score; check the dataset path and the subject filter")
    encoded = encode_questions(
        loaded.tokenizer, questions, dev, num_shots=num_shots, chat_template=chat_template
    )
    label = f"{dataset} {spec.label()} on {loaded.name}"
    started = time.monotonic()
    with apply_intervention(loaded, spec):
        scores = letter_logprobs(loaded.model, encoded, batch_size, label=label)

    condition = intervention_values(spec.fields(), model_fields(spec, loaded))
    package_version = __version__  # not importlib.metadata: per-rule envs do not install the package
    rows = []
    for e in encoded:
        q = questions[e.index]
        lp = scores[e.index]
        prediction = LETTERS[max(range(4), key=lambda i: lp[i])]  # first maximum on ties, like numpy argmax
        rows.append(
            {
                "model": loaded.name,
                "revision": loaded.revision,
                "dataset": dataset,
                **condition,
                "subject": q.subject,
                "question_id": e.question_id,
                "question_key": question_key(q),
                "answer": q.answer,
                "prediction": prediction,
                "correct": prediction == q.answer,
                "logprob_a": lp[0],
                "logprob_b": lp[1],
                "logprob_c": lp[2],
                "logprob_d": lp[3],
                "num_shots": num_shots,
                "chat_template": chat_template,
                "package_version": package_version,
            }
        )
    df = pl.DataFrame(rows, schema=MC_SCHEMA).sort("subject", "question_id")
    if out_path is not None:
        write_parquet(df, Path(out_path))
    correct = int(df["correct"].sum())
    n_questions = df["question_key"].n_unique()
    items = f"{df.height} items ({n_questions} questions)" if n_questions < df.height else f"{df.height} questions"
    log.info(
        "%s: %s, accuracy %.4f (%d correct) in %s -> %s",
        label, items, correct / df.height, correct, duration(time.monotonic() - started),
        out_path if out_path is not None else "(not written)",
    )  # fmt: skip
    return df
