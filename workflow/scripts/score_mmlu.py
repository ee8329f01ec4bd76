"""Rule score_mmlu: multiple-choice accuracy of one model at one k, prefill sparsity (E5)."""

import sys
from pathlib import Path

# The package from this working tree (src/), also in per-rule conda envs where it is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

# CPU numerics (config `numerics`, hybrid_retrieval/numerics.py): set before anything imports torch.
from hybrid_retrieval.numerics import apply_numerics  # noqa: E402

apply_numerics(globals()["snakemake"].config, threads=globals()["snakemake"].threads)

from hybrid_retrieval.experiments import run_mmlu  # noqa: E402
from hybrid_retrieval.workflow_support import job_log  # noqa: E402

snakemake = globals()["snakemake"]  # injected by Snakemake's script preamble
with job_log(snakemake.log[0]):
    s = snakemake.params.settings
    run_mmlu(
        snakemake.input.model,
        model=snakemake.params.model,
        # "hub" -> the snapshot record the download rule wrote; a local copy -> its path; "toy" -> no input
        dataset=str(getattr(snakemake.input, "dataset", s["dataset"])),
        k=snakemake.params.k,
        num_shots=s["num_shots"],
        chat_template=s["chat_template"],
        batch_size=s["batch_size"],
        max_questions_per_subject=s["max_questions_per_subject"],
        head_score=s.get("head_score", "entropy"),
        device=snakemake.params.device,
        threads=snakemake.threads,
        out_path=snakemake.output[0],
    )
