"""Batched retrieval on tiny random RecurrentGemma / Jamba models (conftest): decoding, rows, resume."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest
import torch

from hybrid_retrieval.errors import DataError
from hybrid_retrieval.interventions import InterventionSpec
from hybrid_retrieval.jobs import evaluate
from hybrid_retrieval.jobs.evaluate import RETRIEVAL_SCHEMA, generate_greedy, run_retrieval
from hybrid_retrieval.tasks.haystack import FixedNeedle
from hybrid_retrieval.tasks.niah import build_trials

NONE = InterventionSpec(kind="none")
MAX_NEW = 6


class WordHaystack:
    """Filler over the tiny tokenizer's words w4..w43 (w0..w3 are kept for needle and question)."""

    haystack_id = "tiny-words"

    def text(self, replicate: int, n_tokens: int, count_tokens) -> str:
        rng = random.Random(f"tiny-{replicate}")
        words = []
        while len(words) < n_tokens + 8:
            words += [f"w{rng.randrange(4, 44)}" for _ in range(rng.randrange(3, 8))] + ["."]
        return " ".join(words)


def tiny_trials(tokenizer, lengths=(48, 64), depths=(0, 50, 100), replicates=1):
    return build_trials(
        tokenizer,
        haystack=WordHaystack(),
        needles=FixedNeedle(sentence="w0 w1 w2 w3", question="w3 w2"),
        context_lengths=list(lengths),
        depths=list(depths),
        prompt_variant="base",
        frame_reserve=20,
        seed=0,
        trials_per_cell=replicates,
    )


def greedy_without_cache(model, ids: list[int], steps: int, eos: int) -> list[int]:
    """The reference: re-run the whole sequence for every token (no cache, no batching)."""
    seq, out = torch.tensor([ids]), []
    with torch.no_grad():
        for _ in range(steps):
            token = int(model(seq, use_cache=False).logits[0, -1].argmax())
            if token == eos:
                break
            out.append(token)
            seq = torch.cat([seq, torch.tensor([[token]])], dim=1)
    return out


def test_cached_batched_decoding_equals_uncached_single_rows(loaded) -> None:
    trials = tiny_trials(loaded.tokenizer, lengths=(48,))
    assert len({len(t.input_ids) for t in trials}) == 1  # one equal-length batch
    batch = torch.tensor([t.input_ids for t in trials])
    got = generate_greedy(loaded, batch, MAX_NEW)
    eos = loaded.tokenizer.eos_token_id
    assert got == [greedy_without_cache(loaded.model, t.input_ids, MAX_NEW, eos) for t in trials]
    assert all(len(row) > 0 for row in got)


def test_batched_run_equals_one_at_a_time(loaded, tmp_path: Path) -> None:
    trials = tiny_trials(loaded.tokenizer, replicates=2)
    batched = run_retrieval(
        loaded,
        trials,
        NONE,
        experiment="e",
        max_new_tokens=MAX_NEW,
        batch_size=8,
        out_path=tmp_path / "b.parquet",
    )
    single = run_retrieval(
        loaded,
        trials,
        NONE,
        experiment="e",
        max_new_tokens=MAX_NEW,
        batch_size=1,
        out_path=tmp_path / "s.parquet",
    )
    assert batched["output"].to_list() == single["output"].to_list()
    assert batched.drop("output").equals(single.drop("output"))


def test_rows_have_the_contract_columns_and_order(loaded, tmp_path: Path) -> None:
    trials = tiny_trials(loaded.tokenizer)
    out = tmp_path / "r.parquet"
    rows = run_retrieval(
        loaded, trials, NONE, experiment="baseline", max_new_tokens=MAX_NEW, batch_size=4, out_path=out
    )
    assert rows.columns == list(RETRIEVAL_SCHEMA)
    assert pl.read_parquet(out).equals(rows)
    assert rows.height == len(trials)
    assert rows.select("context_length", "depth", "trial_id").rows() == sorted(
        (t.context_length, float(t.depth), t.trial_id) for t in trials
    )
    first = rows.row(0, named=True)
    assert first["model"] == loaded.name and first["revision"] == loaded.revision
    assert first["condition"] == NONE.label() and first["intervention_hash"] == NONE.spec_hash()
    assert first["kept_fraction"] == 1.0 and first["num_heads"] > 0
    by_id = {t.trial_id: t for t in trials}
    for row in rows.iter_rows(named=True):
        trial = by_id[row["trial_id"]]
        assert row["prompt_tokens"] == len(trial.input_ids)
        assert row["needle_distance"] == len(trial.input_ids) - trial.needle_spans[0][1]
        assert row["score"] == evaluate.score_output(row["output"], trial.needle)
        assert row["exact"] == (row["score"] == 5)


def test_resume_skips_done_trials_and_keeps_other_conditions(loaded, tmp_path: Path, monkeypatch) -> None:
    trials = tiny_trials(loaded.tokenizer)
    out = tmp_path / "r.parquet"
    run_retrieval(
        loaded, trials[:3], NONE, experiment="e", max_new_tokens=MAX_NEW, batch_size=4, out_path=out
    )
    # mark the finished rows: if resume re-ran them, the marker would be overwritten
    pl.read_parquet(out).with_columns(output=pl.lit("MARKER")).write_parquet(out)
    ablated = InterventionSpec(kind="entropy_topk", k=0)
    run_retrieval(
        loaded, trials[:2], ablated, experiment="e", max_new_tokens=MAX_NEW, batch_size=4, out_path=out
    )

    seen: list[int] = []
    real = evaluate.decode

    def counting(loaded_, start, max_new_tokens, **kwargs):
        seen.append(start.rows)
        return real(loaded_, start, max_new_tokens, **kwargs)

    monkeypatch.setattr(evaluate, "decode", counting)
    rows = run_retrieval(
        loaded, trials, NONE, experiment="e", max_new_tokens=MAX_NEW, batch_size=4, out_path=out
    )
    assert sum(seen) == len(trials) - 3
    assert rows.height == len(trials)
    assert rows.filter(pl.col("output") == "MARKER")["trial_id"].sort().to_list() == sorted(
        t.trial_id for t in trials[:3]
    )
    everything = pl.read_parquet(out)
    assert everything.filter(pl.col("intervention_hash") == ablated.spec_hash()).height == 2
    assert everything.height == len(trials) + 2

    seen.clear()
    run_retrieval(
        loaded, trials, NONE, experiment="e", max_new_tokens=MAX_NEW, batch_size=4, out_path=out, resume=False
    )
    assert sum(seen) == len(trials)


def test_resume_does_not_reuse_a_row_whose_prompt_changed(loaded, tmp_path: Path) -> None:
    # A trial id survives a change of needle string or insertion rule; its model input does not: such a
    # row must be run again, not reused (the row's prompt_hash is the identity of its input).
    import dataclasses

    trials = tiny_trials(loaded.tokenizer)[:2]
    out = tmp_path / "r.parquet"
    run_retrieval(loaded, trials, NONE, experiment="e", max_new_tokens=MAX_NEW, batch_size=4, out_path=out)
    pl.read_parquet(out).with_columns(output=pl.lit("MARKER")).write_parquet(out)
    changed = [dataclasses.replace(trials[0], input_ids=[*trials[0].input_ids[:-1], trials[0].input_ids[-1]]), trials[1]]
    same = run_retrieval(loaded, changed, NONE, experiment="e", max_new_tokens=MAX_NEW, batch_size=4, out_path=out)
    assert same["output"].to_list() == ["MARKER", "MARKER"]  # identical inputs: reused
    edited = list(trials[0].input_ids)
    edited[1] = edited[2]  # one token of the haystack differs, same trial id
    changed = [dataclasses.replace(trials[0], input_ids=edited), trials[1]]
    rows = run_retrieval(loaded, changed, NONE, experiment="e", max_new_tokens=MAX_NEW, batch_size=4, out_path=out)
    by_id = dict(zip(rows["trial_id"], rows["output"], strict=True))
    assert by_id[trials[1].trial_id] == "MARKER" and by_id[trials[0].trial_id] != "MARKER"
    assert rows.height == 2 and pl.read_parquet(out).height == 2


def test_killed_run_keeps_checkpointed_batches(loaded, tmp_path: Path, monkeypatch) -> None:
    trials = tiny_trials(loaded.tokenizer, lengths=(48, 64, 80), depths=(0, 100))
    out = tmp_path / "r.parquet"
    calls = []
    real = evaluate.decode

    def dies_on_third_batch(loaded_, start, max_new_tokens, **kwargs):
        calls.append(start.rows)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(loaded_, start, max_new_tokens, **kwargs)

    monkeypatch.setattr(evaluate, "decode", dies_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        run_retrieval(
            loaded,
            trials,
            NONE,
            experiment="e",
            max_new_tokens=MAX_NEW,
            batch_size=2,
            out_path=out,
            checkpoint_every=1,
        )
    assert pl.read_parquet(out).height == sum(calls[:2])
    assert [p.name for p in tmp_path.iterdir()] == ["r.parquet"]  # no temp files left


def test_bad_arguments(loaded, tmp_path: Path) -> None:
    trials = tiny_trials(loaded.tokenizer, lengths=(48,), depths=(50,))
    with pytest.raises(DataError, match="batch_size"):
        run_retrieval(
            loaded,
            trials,
            NONE,
            experiment="e",
            max_new_tokens=4,
            batch_size=0,
            out_path=tmp_path / "x.parquet",
        )
    with pytest.raises(DataError, match="repeat"):
        run_retrieval(
            loaded,
            trials * 2,
            NONE,
            experiment="e",
            max_new_tokens=4,
            batch_size=2,
            out_path=tmp_path / "x.parquet",
        )
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="resume=False"):
        run_retrieval(
            loaded,
            trials,
            NONE,
            experiment="e",
            max_new_tokens=4,
            batch_size=2,
            out_path=tmp_path / "junk.parquet",
        )
