"""Glue from the rule parameters (Snakemake params, CLI arguments) to the package.

Each function here is one workflow step: load the model, build the needle trials for an experiment's
grid, turn the experiment's settings into `InterventionSpec`s and run them. The workflow scripts and
the CLI call these functions with the same keyword arguments, so a step runs the same with or without
Snakemake. Parameters arrive as plain dicts (Snakemake compares params to decide what to rerun and
ignores what it cannot compare), made by the Snakefile's `common.smk` and the CLI from
`hybrid_retrieval.config.Config`; each entry function turns them into the schema's own models once, first
thing (`hybrid_retrieval.config.params`), and reads typed attributes from then on:
- model:    `ModelParams` (Config.model_params: name, dtype, chat_template, prefill_boundary)
- grid:     `Grid` (Config.grid_for: the shared grid with the section's overrides)
- haystack: `Haystack` (Config.haystack_params; the essays' folder is the `haystack_dir` argument)
- settings: the section's model (Config.settings: the section without enabled / models / grid, with
            `sparsification.head_score` where the section sparsifies)
Already-typed values pass through unchanged.

Size (~530 lines): one short entry function per workflow step (retrieval, sweep, head scores,
recordings, MMLU, GLUE) and the openings they share (typed params, model, trials).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import torch

from hybrid_retrieval.config import (
    EXPERIMENT_SECTIONS,
    Grid,
    Haystack,
    ModelParams,
    as_grid,
    as_haystack,
    as_model_params,
    as_settings,
)
from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.generation.decoding import resolve_prefill_boundary
from hybrid_retrieval.infra.progress import duration
from hybrid_retrieval.interventions import InterventionSpec
from hybrid_retrieval.io import write_parquet
from hybrid_retrieval.jobs.canary import canary_phases, check_interventions
from hybrid_retrieval.jobs.evaluate import run_conditions
from hybrid_retrieval.models.loading import LoadedModel, load_model
from hybrid_retrieval.tasks.haystack import EssayHaystack, FixedNeedle, SyntheticHaystack, SyntheticNeedles
from hybrid_retrieval.tasks.niah import Trial, build_trials

log = logging.getLogger(__name__)

RETRIEVAL_EXPERIMENTS = tuple(EXPERIMENT_SECTIONS)  # baseline, attention_ablated, jrt, exposure, controls, sparsity_sweep


# ------------------------------------------------------------------------------------------ model, trials


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def check_limit(limit: int | None) -> None:
    """`limit` (the CLI's `--limit`): None, or the number of trials / questions per subject to run."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a whole number >= 1 (or None: no limit), got {limit!r}")


def mark_limited(table: pl.DataFrame, limit: int | None, out_path: str | os.PathLike[str]) -> pl.DataFrame:
    """A limited run (a quick look; the workflow never limits): every row gets `limit` = N and `out_path`
    is rewritten with it, so the file says it is not a full result. No limit: unchanged, no column."""
    if limit is None:
        return table
    log.warning("limit %d: only the first %d trials (MMLU: questions per subject) ran; not a result", limit, limit)
    table = table.with_columns(pl.lit(limit, dtype=pl.Int64).alias("limit"))
    write_parquet(table, out_path)
    return table


def load(
    model_dir: str | os.PathLike[str],
    model: Mapping[str, Any] | ModelParams,
    *,
    device: str = "cpu",
    threads: int = 1,
) -> LoadedModel:
    """Load the model of `model_dir` under the config's name and dtype. `threads` fixes torch's CPU
    thread count: a fixed count keeps float reductions, hence outputs, identical between runs."""
    model = as_model_params(model)
    torch.set_num_threads(max(1, int(threads)))
    return load_model(model_dir, name=model.name, dtype=model.dtype, device=resolve_device(device))


def num_heads(loaded: LoadedModel) -> int:
    """Heads per attention layer (the smallest, should layers differ): the H of "k = H"."""
    layers = loaded.adapter.attention_layers(loaded.model)
    if not layers:
        raise ConfigError(f"{loaded.name} has no attention layers; head experiments cannot run on it")
    return min(layer.num_heads for layer in layers)


def resolve_k(k: int | str, loaded: LoadedModel) -> int:
    """A config k: an int, or "H" for all heads of this model."""
    if k == "H":
        return num_heads(loaded)
    if isinstance(k, int) and k >= 0:
        return k
    raise ConfigError(f"k must be an int >= 0 or 'H' (all heads), got {k!r}")


def prompt_variants(model: Mapping[str, Any] | ModelParams, *, jrt: bool = False) -> str:
    """The model's prompt variant: chat models get the chat template (as in the authors' code)."""
    chat = as_model_params(model).chat_template
    return {(False, False): "base", (False, True): "jrt", (True, False): "chat", (True, True): "chat_jrt"}[
        (chat, jrt)
    ]


def haystack_sources(
    haystack: Mapping[str, Any] | Haystack, haystack_dir: str | os.PathLike[str] | None
):
    """(haystack source, needle source) for the config's haystack kind."""
    haystack = as_haystack(haystack)
    if haystack.kind == "synthetic":
        if haystack.language_seed is None:
            raise ConfigError(
                "the synthetic haystack needs its language_seed (Config.haystack_params sets it: a toy's own "
                "seed, haystack.language_seed otherwise)"
            )
        return (
            SyntheticHaystack(language_seed=haystack.language_seed, seed=haystack.seed),
            SyntheticNeedles(language_seed=haystack.language_seed),
        )
    if haystack_dir is None:  # paul_graham (the schema knows no other kind)
        raise ConfigError("haystack kind 'paul_graham' needs the essays' folder (haystack_dir / --haystack-dir)")
    return EssayHaystack(Path(haystack_dir), essays=haystack.essays), FixedNeedle()


def grid_trials(
    loaded: LoadedModel,
    grid: Mapping[str, Any] | Grid,
    haystack: Mapping[str, Any] | Haystack,
    variant: str,
    *,
    haystack_dir: str | os.PathLike[str] | None = None,
) -> list[Trial]:
    grid = as_grid(grid)
    hay, needles = haystack_sources(haystack, haystack_dir)
    max_positions = getattr(loaded.model.config, "max_position_embeddings", None)
    return build_trials(
        loaded.tokenizer,
        haystack=hay,
        needles=needles,
        context_lengths=list(grid.context_lengths),
        depths=list(grid.depths),
        prompt_variant=variant,
        frame_reserve=grid.frame_reserve,
        seed=grid.seed,
        trials_per_cell=grid.trials_per_cell,
        max_positions=max_positions,
        needle_format=grid.needle_format,
        insertion=grid.insertion,
        needle_text=grid.needle_text,
    )


# --------------------------------------------------------------------------------------------- specs


def _topk(k: int, phase: str, head_score: str) -> InterventionSpec:
    return InterventionSpec(kind="entropy_topk", k=k, phase=phase, head_score=head_score)


def experiment_specs(
    experiment: str,
    settings: Mapping[str, Any] | Any,
    loaded: LoadedModel,
    *,
    head_scores: pl.DataFrame | None = None,
) -> list[tuple[InterventionSpec, tuple[bool, ...]]]:
    """The conditions of `experiment`: (spec, prompt kinds) pairs, where a prompt kind is False for the
    standard prompt and True for Just Read Twice. Order is the config's order (it decides run order only).
    `settings`: Config.settings of the experiment's section (a dict or its model, `as_settings`)."""
    check_experiment(experiment)
    s = as_settings(EXPERIMENT_SECTIONS[experiment], settings)
    standard = (False,)
    if experiment == "baseline":
        return [(InterventionSpec(kind="none"), standard)]
    if experiment == "attention_ablated":
        return [(_topk(0, phase, s.head_score), standard) for phase in s.phases]
    if experiment == "jrt":
        # Both prompts under one spec: run_retrieval replaces a spec's rows that are not in its trials.
        return [(_topk(resolve_k(k, loaded), s.phase, s.head_score), (False, True)) for k in s.k]
    if experiment == "exposure":
        # inside entropy top-k at the section's k and phase, as the authors ran it in their k loop (pred.py)
        k = resolve_k(s.k, loaded)
        return [
            (
                InterventionSpec(
                    kind="entropy_topk",
                    k=k,
                    phase=s.phase,
                    head_score=s.head_score,
                    generation_mode=g,
                    prefill_mode=p,
                    exposure_rule=s.rule,
                ),
                standard,
            )
            for g in s.generation_modes
            for p in s.prefill_modes
        ]
    if experiment == "controls":
        specs = []
        if s.single_layer:
            for layer in loaded.adapter.attention_layers(loaded.model):
                specs.append(InterventionSpec(kind="layer_ablation", layers=(layer.layer_index,), phase=s.phase))
        if s.mixer_layers:
            for layer in loaded.adapter.mixer_layers(loaded.model):
                specs.append(InterventionSpec(kind="mixer_ablation", layers=(layer.layer_index,), phase=s.phase))
        return [(spec, standard) for spec in specs]
    return [(spec, standard) for spec in sweep_specs(s, loaded, head_scores)]  # sparsity_sweep


def check_experiment(experiment: str) -> None:
    """A retrieval experiment's name (its output file's stem), refused when unknown."""
    if experiment not in RETRIEVAL_EXPERIMENTS:
        raise ConfigError(
            f"unknown retrieval experiment {experiment!r}; choose from {', '.join(RETRIEVAL_EXPERIMENTS)}"
        )


def sweep_specs(
    settings: Mapping[str, Any] | Any, loaded: LoadedModel, head_scores: pl.DataFrame | None
) -> list[InterventionSpec]:
    """E4: entropy top-k at each k; random-k and static heads at each k strictly between 0 and H
    (at 0 and H every rule keeps the same heads: none / all)."""
    from hybrid_retrieval.jobs.head_scores import static_heads_from_scores

    s = as_settings("sparsity_sweep", settings)
    h = num_heads(loaded)
    ks = list(range(h + 1)) if s.k == "all" else sorted({resolve_k(k, loaded) for k in s.k})
    if s.static_heads.enabled and head_scores is None:
        raise ConfigError(
            "the static-heads control needs the head scores (results/{model}/heads/scores.parquet)"
        )
    specs = []
    for phase in s.phases:
        for k in ks:
            specs.append(_topk(k, phase, s.head_score))
            if not 0 < k < h:
                continue
            if s.random_k.enabled:
                specs += [InterventionSpec(kind="random_k", k=k, phase=phase, seed=seed) for seed in s.random_k.seeds]
            if s.static_heads.enabled:
                heads = static_heads_from_scores(head_scores, k, rank_by=s.static_heads.rank_by)
                specs.append(InterventionSpec(kind="static_heads", heads=heads, phase=phase))
    return specs


# ------------------------------------------------------------------------------------------------ steps


def run_experiment(
    model_dir: str | os.PathLike[str],
    experiment: str,
    *,
    model: Mapping[str, Any] | ModelParams,
    grid: Mapping[str, Any] | Grid,
    haystack: Mapping[str, Any] | Haystack,
    settings: Mapping[str, Any] | Any,
    out_path: str | os.PathLike[str],
    haystack_dir: str | os.PathLike[str] | None = None,
    head_scores_path: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    threads: int = 1,
    progress_path: str | os.PathLike[str] | None = "auto",
    limit: int | None = None,
    write_prompts: bool = False,
) -> pl.DataFrame:
    """Run every condition of a retrieval experiment into `out_path` (one row per trial x condition).

    `progress_path`: a side file that collects the rows as they finish (checkpointed every trial batch)
    and is read back on a rerun, so a killed job resumes at its next batch; `out_path` is written once,
    at the end, and the side file removed. "auto" (default) = `progress_file(...)`: next to `out_path`,
    keyed by every parameter and the code digest, so Snakemake (which deletes a job's outputs before it
    reruns it) never deletes it and a changed job never reuses it. None: checkpoint into `out_path`.
    The model dict's `prefill_boundary` ("auto" = the authors' per architecture) is resolved here.
    `limit`: only the first N trials of each prompt (`mark_limited`). `write_prompts`: also the exact prompt
    of every trial, beside `out_path` (`prompt_log`, keyed by the rows' prompt_hash)."""
    check_limit(limit)
    started = time.monotonic()
    check_experiment(experiment)
    # The params as the schema's models, before the model loads: a bad value fails here, in one line.
    model, grid, haystack = as_model_params(model), as_grid(grid), as_haystack(haystack)
    settings = as_settings(EXPERIMENT_SECTIONS[experiment], settings)
    loaded = load(model_dir, model, device=device, threads=threads)
    scores = pl.read_parquet(head_scores_path) if head_scores_path else None
    conditions = experiment_specs(experiment, settings, loaded, head_scores=scores)
    trials: dict[bool, list[Trial]] = {}
    for _, kinds in conditions:
        for jrt in kinds:
            if jrt not in trials:
                trials[jrt] = grid_trials(
                    loaded, grid, haystack, prompt_variants(model, jrt=jrt), haystack_dir=haystack_dir
                )[:limit]
    log.info(
        "%s on %s: %d conditions x %d trials", experiment, loaded.name, len(conditions), len(trials[False])
    )
    if write_prompts:  # lm-eval's --log_samples: the prompt behind each row, by its prompt_hash
        from hybrid_retrieval.jobs.prompt_log import write_prompts as write_prompt_log

        log.info("prompts -> %s", write_prompt_log([t for jrt in trials for t in trials[jrt]], out_path))
    boundary = resolve_prefill_boundary(model.prefill_boundary, loaded)
    first = [t for jrt in trials for t in trials[jrt]][:1]
    if first:  # the canary: the interventions act in every phase used, before any row is written
        check_interventions(loaded, first[0].input_ids, canary_phases(s for s, _ in conditions), boundary)
    if progress_path == "auto":
        progress_path = progress_file(
            out_path,
            experiment=experiment, model=model.model_dump(mode="json"), grid=grid.model_dump(mode="json"),
            haystack=haystack.model_dump(mode="json"), settings=settings.model_dump(mode="json"), revision=loaded.revision, prefill_boundary=boundary,
            head_scores=_file_digest(head_scores_path), code=retrieval_code_digest(),
            **({} if limit is None else {"limit": limit}),
        )  # fmt: skip
    # Conditions on the same prompts run together: one prefill per trial batch feeds all of them.
    groups: dict[tuple[bool, ...], list[InterventionSpec]] = {}
    for spec, kinds in conditions:
        groups.setdefault(kinds, []).append(spec)
    out_path = Path(out_path)
    work = Path(progress_path) if progress_path is not None else out_path
    for kinds, specs in groups.items():
        rows = run_conditions(
            loaded,
            [t for jrt in kinds for t in trials[jrt]],
            specs,
            experiment=experiment,
            max_new_tokens=grid.max_new_tokens,
            batch_size=grid.batch_size,
            out_path=work,
            prefill_boundary=boundary,
            scoring=grid.scoring,
            checkpoint_every=1 if progress_path is not None else 10,
        )
        for spec in specs:
            mine = rows.filter(pl.col("intervention_hash") == spec.spec_hash())
            log.info("%s: exact %.3f over %d trials", spec.label(), mine["exact"].mean(), mine.height)
    table = pl.read_parquet(work)
    if work != out_path:
        write_parquet(table, out_path)
        work.unlink()
        with contextlib.suppress(OSError):  # the side-file folder goes when no other job uses it
            work.parent.rmdir()
    log.info(
        "%s on %s: %d rows (%d conditions), exact %.4f, in %s -> %s",
        experiment, loaded.name, table.height, len(conditions), table["exact"].mean() or 0.0,
        duration(time.monotonic() - started), out_path,
    )  # fmt: skip
    return mark_limited(table, limit, out_path)


def retrieval_code_digest() -> str:
    """Digest of the code a retrieval job runs (workflow_support.code_digest)."""
    from hybrid_retrieval.infra.workflow_support import code_digest

    return code_digest(
        "hybrid_retrieval.jobs.evaluate",
        "hybrid_retrieval.tasks.niah",
        "hybrid_retrieval.tasks.haystack",
        "hybrid_retrieval.interventions",
        "hybrid_retrieval.jobs.head_scores",
        shallow=("hybrid_retrieval.jobs.experiments",),
    )


def _file_digest(path: str | os.PathLike[str] | None) -> str | None:
    return None if path is None else hashlib.sha256(Path(path).read_bytes()).hexdigest()


def progress_file(out_path: str | os.PathLike[str], **params: Any) -> Path:
    """`<out dir>/.progress/<out stem>.<16 hex of the params>.parquet`: a job's rows in progress. Not a
    declared output, so Snakemake leaves it when it reruns a killed job; the key changes with any param."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    key = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    out_path = Path(out_path)
    return out_path.parent / ".progress" / f"{out_path.stem}.{key}.parquet"


def _standard_trials(
    section: str,
    model_dir: str | os.PathLike[str],
    model: Mapping[str, Any] | ModelParams,
    grid: Mapping[str, Any] | Grid,
    haystack: Mapping[str, Any] | Haystack,
    settings: Mapping[str, Any] | Any,
    haystack_dir: str | os.PathLike[str] | None,
    device: str,
    threads: int,
    limit: int | None,
) -> tuple[Any, LoadedModel, list[Trial], str]:
    """The opening `run_head_scores` and `run_recording` share: the params as the schema's models, the model,
    the grid's standard-prompt trials and the prefill boundary -> (settings, loaded, trials, boundary)."""
    check_limit(limit)
    model, grid, haystack = as_model_params(model), as_grid(grid), as_haystack(haystack)
    s = as_settings(section, settings)
    loaded = load(model_dir, model, device=device, threads=threads)
    trials = grid_trials(loaded, grid, haystack, prompt_variants(model), haystack_dir=haystack_dir)
    return s, loaded, trials, resolve_prefill_boundary(model.prefill_boundary, loaded)


def run_head_scores(
    model_dir: str | os.PathLike[str],
    *,
    model: Mapping[str, Any] | ModelParams,
    grid: Mapping[str, Any] | Grid,
    haystack: Mapping[str, Any] | Haystack,
    settings: Mapping[str, Any] | Any,
    out_path: str | os.PathLike[str],
    haystack_dir: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    threads: int = 1,
    limit: int | None = None,
) -> pl.DataFrame:
    """Per-head mean entropy and ablation effect on the grid's standard-prompt trials (`limit`: the first N)."""
    from hybrid_retrieval.jobs.head_scores import head_scores

    s, loaded, trials, boundary = _standard_trials(
        "head_scores", model_dir, model, grid, haystack, settings, haystack_dir, device, threads, limit
    )
    trials = trials[:limit]
    if trials:  # the canary (every head ablated in the phase), before any row is written
        canary = InterventionSpec(kind="entropy_topk", k=0, phase=s.phase)
        check_interventions(loaded, trials[0].input_ids, canary_phases([canary]), boundary)
    table = head_scores(loaded, trials, phase=s.phase, max_answer_tokens=s.max_answer_tokens, out_path=out_path)
    return mark_limited(table, limit, out_path)


def run_recording(
    model_dir: str | os.PathLike[str],
    *,
    model: Mapping[str, Any] | ModelParams,
    grid: Mapping[str, Any] | Grid,
    haystack: Mapping[str, Any] | Haystack,
    settings: Mapping[str, Any] | Any,
    out_path: str | os.PathLike[str],
    haystack_dir: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    threads: int = 1,
    limit: int | None = None,
) -> pl.DataFrame:
    """E7: record entropy, kept heads and needle mass per generated step for the first trials (`limit`:
    at most N of them)."""
    from hybrid_retrieval.jobs.recording import record_attention

    s, loaded, trials, boundary = _standard_trials(
        "recordings", model_dir, model, grid, haystack, settings, haystack_dir, device, threads, limit
    )
    chosen = trials[: s.max_trials][:limit]
    spec = _topk(resolve_k(s.k, loaded), s.phase, s.head_score)
    if chosen:  # the canary, before any row is written
        check_interventions(loaded, chosen[0].input_ids, canary_phases([spec]), boundary)
    table = record_attention(
        loaded,
        chosen,
        spec,
        max_new_tokens=s.max_new_tokens,
        out_path=out_path,
        prefill_boundary=boundary,
    )
    return mark_limited(table, limit, out_path)


def first_per_subject(subjects: Mapping[str, Sequence[Any]], limit: int | None) -> list[Any]:
    """Questions of every subject in subject order, the first `limit` of each (None = all)."""
    return [q for name in sorted(subjects) for q in list(subjects[name])[: limit or None]]


def run_mmlu(
    model_dir: str | os.PathLike[str],
    *,
    model: Mapping[str, Any] | ModelParams,
    dataset: str,
    k: int | str,
    num_shots: int,
    chat_template: bool | None,
    batch_size: int,
    out_path: str | os.PathLike[str],
    max_questions_per_subject: int | None = None,
    device: str = "cpu",
    threads: int = 1,
    head_score: str = "entropy",
    limit: int | None = None,
) -> pl.DataFrame:
    """E5: multiple choice (test split, k-shot from dev) under entropy top-k with prefill sparsity.
    dataset "toy" = the toy model's own knowledge set in `model_dir/mc`. `limit`: at most N questions per
    subject (as lm-eval's per task)."""
    from hybrid_retrieval.jobs.multiple_choice import encode_questions, score_multiple_choice
    from hybrid_retrieval.tasks.mmlu import dataset_label, load_mc_dataset

    check_limit(limit)
    model = as_model_params(model)
    loaded = load(model_dir, model, device=device, threads=threads)
    source = Path(model_dir) / "mc" if dataset == "toy" else dataset
    data = load_mc_dataset(source)
    if "test" not in data:
        raise ConfigError(f"multiple-choice dataset {source} has no test split; splits: {sorted(data)}")
    caps = [n for n in (max_questions_per_subject, limit) if n]
    questions = first_per_subject(data["test"], min(caps) if caps else None)
    dev = data.get("dev", {})
    chat = model.chat_template if chat_template is None else bool(chat_template)
    spec = _topk(resolve_k(k, loaded), "all", head_score)  # no generation step in multiple choice: prefill=True
    if questions:  # the canary on the first question's prompt (prefill only), before any row is written
        first = encode_questions(loaded.tokenizer, questions[:1], dev, num_shots=int(num_shots), chat_template=chat)
        check_interventions(loaded, first[0].context, ("prefill",), "whole_prompt")
    table = score_multiple_choice(
        loaded,
        questions,
        dev,
        spec=spec,
        num_shots=int(num_shots),
        chat_template=chat,
        batch_size=int(batch_size),
        out_path=out_path,
        dataset="toy-mc" if dataset == "toy" else dataset_label(source),  # hub: "cais/mmlu@<commit>"
    )
    return mark_limited(table, limit, out_path)

