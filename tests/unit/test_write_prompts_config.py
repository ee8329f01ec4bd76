"""`retrieval.write_prompts` (config) = `--write-prompts` (CLI): off by default, never part of the grid a rule
receives (so it reruns nothing else), a param of the retrieval rules only when on; prompt_log's records."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import yaml

from hybrid_retrieval.config import load_config
from hybrid_retrieval.jobs.evaluate import prompt_hash
from hybrid_retrieval.jobs.prompt_log import prompt_records, prompts_path, write_prompts

REPO = Path(__file__).resolve().parents[2]


def _config(**retrieval: object):
    data = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    data["retrieval"].update(retrieval)
    return load_config(data)


def test_the_key_is_off_by_default_and_stays_out_of_every_grid() -> None:
    assert _config().retrieval.write_prompts is False
    cfg = _config(write_prompts=True)
    assert cfg.retrieval.write_prompts is True
    assert "write_prompts" not in cfg.grid_for("baseline") and "write_prompts" not in cfg.grid_for(
        "head_scores"
    )
    assert cfg.grid_for("baseline") == _config().grid_for("baseline")
    assert "write_prompts" not in cfg.model_dump(mode="json")["retrieval"]  # provenance and report configs


def test_the_retrieval_rules_take_it_as_a_param_when_on() -> None:
    rules = REPO / "workflow" / "rules"
    common = (rules / "common.smk").read_text()
    params = common[common.index("def retrieval_params") :].split("\ndef ")[0]
    assert "**write_prompts_param()" in params
    sweep = (rules / "heads.smk").read_text().split("rule run_sparsity_sweep:")[1].split("\nrule ")[0]
    assert "**write_prompts_param()" in sweep
    script = (REPO / "workflow" / "scripts" / "run_retrieval_experiment.py").read_text()
    assert 'write_prompts=snakemake.params.get("write_prompts", False)' in script


def test_prompt_records_one_per_distinct_prompt_in_trial_order(tmp_path: Path) -> None:
    def trial(i: int, ids: list[int]) -> SimpleNamespace:
        return SimpleNamespace(
            trial_id=f"t{i}", prompt_variant="base", context_length=80, depth=50.0, needle="n", prompt=f"p{i}",
            input_ids=ids,
        )  # fmt: skip

    trials = [trial(0, [2, 5, 6]), trial(1, [2, 7]), trial(2, [2, 5, 6])]  # trial 2 repeats trial 0's input
    records = prompt_records(trials)
    assert [r["trial_id"] for r in records] == ["t0", "t1"]
    assert [r["prompt_hash"] for r in records] == [prompt_hash([2, 5, 6]), prompt_hash([2, 7])]
    out = tmp_path / "results" / "baseline.parquet"
    written = write_prompts(trials, out)
    assert written == prompts_path(out) == tmp_path / "results" / "baseline.prompts.jsonl"
    assert [json.loads(line) for line in written.read_text().splitlines()] == records
