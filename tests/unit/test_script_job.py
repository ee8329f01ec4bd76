"""The workflow scripts' one opening (`workflow_support.script_job`, through workflow/scripts/_job.py) and the
`numerics` param: every rule whose script applies the CPU numerics declares it, so a change of the setting
reruns the rule (Snakemake's params trigger), and the script reads it from there, never from the config."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from hybrid_retrieval.errors import HybridRetrievalError
from hybrid_retrieval.infra import numerics, workflow_support

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "workflow" / "scripts"


class Params(dict):
    """What a script sees as `snakemake.params` (a Snakemake Namedlist: `.get`, attributes)."""

    __getattr__ = dict.__getitem__


def _snakemake(tmp_path: Path, **params: object) -> SimpleNamespace:
    return SimpleNamespace(
        rule="some_rule", params=Params(params), threads=1, log=[str(tmp_path / "logs" / "job.log")]
    )


def _scripts_with_numerics() -> set[str]:
    return {p.name for p in SCRIPTS.glob("*.py") if "numerics=True" in p.read_text(encoding="utf-8")}


def test_every_script_opens_with_script_job() -> None:
    for path in sorted(SCRIPTS.glob("*.py")):
        if path.name == "_job.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert "from _job import script_job" in text, path.name
        assert "sys.path" not in text and "apply_numerics" not in text and "snakemake.config" not in text, (
            path.name
        )
    assert {"train_toy_model.py", "run_retrieval_experiment.py", "score_mmlu.py"} <= _scripts_with_numerics()


def _rule_blocks() -> dict[str, str]:
    blocks: dict[str, str] = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        parts = re.split(r"^(?=rule \w+:|use rule )", smk.read_text(encoding="utf-8"), flags=re.M)
        for part in parts:
            match = re.match(r"(?:rule (\w+):|use rule \w+ as (\w+) with:)", part)
            if match:
                blocks[match.group(1) or match.group(2)] = part
    return blocks


def test_every_rule_whose_script_applies_numerics_has_the_param() -> None:
    common = (REPO / "workflow" / "rules" / "common.smk").read_text(encoding="utf-8")
    retrieval_params = common[common.index("def retrieval_params") :]
    assert '"numerics": CFG.numerics' in retrieval_params.split("\ndef ")[0]
    blocks = _rule_blocks()
    checked = set()
    for name, block in blocks.items():
        script = re.search(r'script:\s*"\.\./scripts/(\w+\.py)"', block)
        if script and script.group(1) in _scripts_with_numerics():
            assert "numerics=CFG.numerics" in block or "**retrieval_params(" in block, name
            checked.add(name)
    # the retrieval variants inherit the template's script and take retrieval_params
    for name, block in blocks.items():
        if block.startswith("use rule run_retrieval_experiment"):
            assert "**retrieval_params(" in block, name
            checked.add(name)
    assert {
        "train_toy_model",
        "score_attention_heads",
        "run_sparsity_sweep",
        "score_mmlu",
        "score_glue",
    } <= checked
    assert "run_baseline_retrieval" in checked and "record_provenance" in checked


def test_script_job_applies_the_rules_numerics_param_then_logs_to_the_rules_log(
    tmp_path, monkeypatch
) -> None:
    calls = []
    monkeypatch.setattr(numerics, "apply_numerics", lambda mode, threads=None: calls.append((mode, threads)))
    with workflow_support.script_job(_snakemake(tmp_path, numerics="native"), numerics=True) as snakemake:
        workflow_support.logging.getLogger("hybrid_retrieval").info("inside the job")
    assert calls == [("native", 1)]
    assert snakemake.rule == "some_rule"
    assert "inside the job" in (tmp_path / "logs" / "job.log").read_text()


def test_script_job_without_the_param_is_an_error_naming_the_fix(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(numerics, "apply_numerics", lambda *a, **k: pytest.fail("applied without a param"))
    with pytest.raises(HybridRetrievalError, match=r"rule some_rule: .*numerics=CFG\.numerics"):
        with workflow_support.script_job(_snakemake(tmp_path), numerics=True):
            pass
    # a script that does not apply numerics needs no param
    with workflow_support.script_job(_snakemake(tmp_path)):
        pass
