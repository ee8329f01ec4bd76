"""Twenty broken configs, each refused when Snakemake builds the DAG (before any job), with a message
that names the key and says what to write instead."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import copy_repo, snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


def _hub_without_revision(c: dict) -> None:
    c["models"]["real"] = {"source": "hub", "repo_id": "ai21labs/AI21-Jamba-Mini-1.6"}


def _training(c: dict, **values) -> None:
    c["models"]["toy-jamba"].setdefault("training", {}).update(values)


# id -> (edit of config/smoke.yaml, the key named, the fix or the allowed values)
CASES = {
    "unknown-top-level-key": (lambda c: c.update(modles={}), "modles: unknown key", "allowed keys"),
    "experiment-key-typo": (lambda c: c["experiments"]["jrt"].update(kk=[0]), "experiments.jrt.kk", "typo"),
    "depth-out-of-range": (
        lambda c: c["retrieval"].update(depths=[0, 150]),
        "retrieval.depths",
        "less than or equal to 100",
    ),
    "context-too-short": (
        lambda c: c["retrieval"].update(context_lengths=[8]),
        "retrieval.context_lengths",
        "greater than or equal to 16",
    ),
    "negative-seed": (
        lambda c: c["models"]["toy-jamba"].update(seed=-1),
        "models.toy-jamba.seed",
        "greater than or equal to 0",
    ),
    "bad-device": (lambda c: c.update(device="gpu"), "device", "cuda"),
    "bad-dtype": (
        lambda c: c["models"]["toy-jamba"].update(dtype="float8"),
        "models.toy-jamba.dtype",
        "'bfloat16'",
    ),
    "unknown-arch": (
        lambda c: c["models"]["toy-jamba"].update(arch="mamba"),
        "models.toy-jamba.arch",
        "'recurrent_gemma', 'jamba' or 'falcon_h1'",
    ),
    "hub-model-without-revision": (_hub_without_revision, "models.real.revision", "Field required"),
    "model-name-not-kebab-case": (
        lambda c: c["models"].update(toy_jamba=c["models"].pop("toy-jamba")),
        "toy_jamba",
        "pattern",
    ),
    "unknown-model-in-experiment": (
        lambda c: c["experiments"]["mmlu"].update(models=["nope"]),
        "experiments.mmlu.models",
        "the models are",
    ),
    "essays-on-toy-models": (
        lambda c: c.setdefault("haystack", {}).update(kind="paul_graham"),
        "haystack.kind",
        "use haystack.kind: synthetic",
    ),
    "k-above-the-heads": (lambda c: c["experiments"]["jrt"].update(k=[99]), "experiments.jrt.k", "use k <="),
    "claims-mmlu-k-unknown-model": (
        lambda c: c.setdefault("claims", {}).update(mmlu_k={"nope": 1}),
        "claims.mmlu_k",
        "fix the name or remove the entry",
    ),
    "context-cannot-hold-the-frame": (
        lambda c: c["retrieval"].update(context_lengths=[100], frame_reserve=200),
        "retrieval.context_lengths",
        "lower frame_reserve",
    ),
    "training-steps-zero": (
        lambda c: _training(c, steps=0),
        "models.toy-jamba.training.steps",
        "greater than or equal to 1",
    ),
    "training-key-typo": (lambda c: _training(c, stpes=5), "models.toy-jamba.training.stpes", "typo"),
    "mmlu-too-many-shots": (
        lambda c: c["experiments"]["mmlu"].update(num_shots=9),
        "experiments.mmlu.num_shots",
        "less than or equal to 5",
    ),
    "figure-format": (
        lambda c: c.setdefault("report", {}).update(figure_formats=["png"]),
        "report.figure_formats",
        "'svg'",
    ),
    "exposure-mode": (
        lambda c: c["experiments"]["exposure"].update(generation_modes=["hide"]),
        "experiments.exposure.generation_modes",
        "'omit'",
    ),
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import shutil

    from conftest import REPO

    dest = copy_repo(tmp_path_factory.mktemp("battery") / "repo")
    if (REPO / "reference").is_dir() and not (dest / "reference").exists():  # compare_reference's input
        shutil.copytree(REPO / "reference", dest / "reference")
    return dest


def test_there_are_twenty_cases():
    assert len(CASES) == 20


@pytest.mark.parametrize("case", list(CASES))
def test_broken_config_fails_at_dag_build(repo: Path, case: str) -> None:
    edit, key, fix = CASES[case]
    data = yaml.safe_load((repo / "config" / "smoke.yaml").read_text())
    edit(data)
    (repo / "config" / f"{case}.yaml").write_text(yaml.safe_dump(data))
    proc = snakemake(repo, "-n", "--configfile", f"config/{case}.yaml", check=False, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-2000:]
    assert "Job stats" not in out  # refused before the DAG: no job planned, none run
    assert key in out and fix in out, out[-3000:]


def test_partial_config_alone_says_how_to_layer(repo: Path) -> None:
    (repo / "config" / "partial.yaml").write_text("experiments:\n  mmlu:\n    num_shots: 0\n")
    proc = snakemake(repo, "-n", "--configfile", "config/partial.yaml", check=False, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "models: Field required" in out
    assert "--configfile config/config.yaml config/partial.yaml" in out
    layered = snakemake(repo, "-n", "--configfile", "config/smoke.yaml", "config/partial.yaml", timeout=300)
    assert "Job stats" in layered.stdout + layered.stderr


def test_directory_elsewhere_plans_the_whole_run(repo: Path, tmp_path: Path) -> None:
    # The workflow's files are found from the Snakefile, not the working directory (--directory, -s).
    proc = snakemake(
        tmp_path, "-n", "-s", str(repo / "Snakefile"), "--directory", str(tmp_path / "run"),
        "--configfile", str(repo / "config" / "smoke.yaml"), timeout=300,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert "train_toy_model" in out and "render_report" in out
