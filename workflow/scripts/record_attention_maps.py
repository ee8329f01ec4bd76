"""Rule record_attention_maps: raw attention maps and kept heads per step on the probe prompts."""

import sys
from pathlib import Path

# The package from this working tree (src/), also in per-rule conda envs where it is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

# CPU numerics (config `numerics`, hybrid_retrieval/numerics.py): set before anything imports torch.
from hybrid_retrieval.numerics import apply_numerics  # noqa: E402

apply_numerics(globals()["snakemake"].config, threads=globals()["snakemake"].threads)

from hybrid_retrieval.attention_maps import run_attention_maps  # noqa: E402
from hybrid_retrieval.workflow_support import job_log  # noqa: E402

snakemake = globals()["snakemake"]  # injected by Snakemake's script preamble
with job_log(snakemake.log[0]):
    run_attention_maps(
        snakemake.input.model,
        model=snakemake.params.model,
        grid=snakemake.params.grid,
        haystack=snakemake.params.haystack,
        settings=snakemake.params.settings,
        out_paths=list(snakemake.output),
        haystack_dir=snakemake.input.get("haystack"),
        device=snakemake.params.device,
        threads=snakemake.threads,
    )
