"""Rule record_attention_heads: kept heads, entropy and needle mass per generated step (E7)."""

import sys
from pathlib import Path

# The package from this working tree (src/), also in per-rule conda envs where it is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

# CPU numerics (config `numerics`, hybrid_retrieval/numerics.py): set before anything imports torch.
from hybrid_retrieval.numerics import apply_numerics  # noqa: E402

apply_numerics(globals()["snakemake"].config, threads=globals()["snakemake"].threads)

from hybrid_retrieval.experiments import run_recording  # noqa: E402
from hybrid_retrieval.workflow_support import job_log  # noqa: E402

snakemake = globals()["snakemake"]  # injected by Snakemake's script preamble
with job_log(snakemake.log[0]):
    run_recording(
        snakemake.input.model,
        model=snakemake.params.model,
        grid=snakemake.params.grid,
        haystack=snakemake.params.haystack,
        settings=snakemake.params.settings,
        haystack_dir=snakemake.input.get("haystack"),
        device=snakemake.params.device,
        threads=snakemake.threads,
        out_path=snakemake.output[0],
    )
