"""Exposure runs inside entropy top-k at a k and phase (the authors' k loop, NIAH pred.py): the specs of
`experiments.exposure` carry them; the default is all heads in generation; a toy refuses a k above its heads."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.jobs.experiments import experiment_specs, num_heads

REPO = Path(__file__).resolve().parents[2]
MODES = {"generation_modes": ["keep", "omit"], "prefill_modes": ["keep", "follow"]}


def test_default_is_every_head_in_generation(loaded) -> None:
    specs = [spec for spec, _ in experiment_specs("exposure", MODES, loaded)]
    assert {(s.kind, s.k, s.phase, s.head_score) for s in specs} == {
        ("entropy_topk", num_heads(loaded), "generation", "entropy")
    }
    assert [(s.generation_mode, s.prefill_mode) for s in specs] == [
        ("keep", "keep"), ("keep", "follow"), ("omit", "keep"), ("omit", "follow")
    ]  # fmt: skip
    assert specs[2].label() == f"entropy-top-{num_heads(loaded)}-generation-exposure-gen-omit-prefill-keep"


def test_k_and_phase_are_the_sections(loaded) -> None:
    settings = {**MODES, "k": 2, "phase": "all", "head_score": "l2"}
    specs = [spec for spec, _ in experiment_specs("exposure", settings, loaded)]
    assert {(s.k, s.phase, s.head_score) for s in specs} == {(2, "all", "l2")}
    with pytest.raises(ConfigError, match="'H'"):
        experiment_specs("exposure", {**MODES, "k": -1}, loaded)


def test_a_toy_refuses_an_exposure_k_above_its_heads() -> None:
    from hybrid_retrieval.config import load_config, toy_num_heads

    data = yaml.safe_load((REPO / "config/smoke.yaml").read_text())
    heads = toy_num_heads("recurrent_gemma", {})
    data["experiments"]["exposure"]["k"] = heads + 1
    with pytest.raises(ConfigError, match=r"experiments\.exposure\.k: k \[\d+\] is above toy model"):
        load_config(data)
    data["experiments"]["exposure"]["k"] = "H"
    assert load_config(data).settings("exposure")["k"] == "H"


def test_at_all_heads_the_exposure_outputs_equal_unsparsified_exposure(loaded, tmp_path) -> None:
    """k = H keeps every head: the default changes the rows' condition, not what the model generates."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_evaluate import tiny_trials

    from hybrid_retrieval.interventions import InterventionSpec
    from hybrid_retrieval.jobs.evaluate import run_conditions

    trials = tiny_trials(loaded.tokenizer, lengths=(48,), depths=(0, 100))
    modes = {**MODES, "generation_modes": ["omit", "only"], "prefill_modes": ["follow"]}
    topk = [spec for spec, _ in experiment_specs("exposure", modes, loaded)]
    plain = [s.model_copy(update={"kind": "none", "k": None}) for s in topk]
    assert all(isinstance(s, InterventionSpec) for s in plain)
    rows = run_conditions(
        loaded, trials, topk + plain, experiment="exposure", max_new_tokens=4, batch_size=2,
        out_path=tmp_path / "rows.parquet",
    )  # fmt: skip
    outputs = {(r["kind"], r["generation_mode"], r["trial_id"]): r["output"] for r in rows.iter_rows(named=True)}
    for (kind, mode, trial), output in outputs.items():
        assert output == outputs[("none" if kind == "entropy_topk" else "entropy_topk", mode, trial)]
