"""Rule record_provenance: machine, kernels, numerics, versions and toy weight hashes -> results/provenance.json."""

import sys
from pathlib import Path

# The package from this working tree (src/), also in per-rule conda envs where it is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

# CPU numerics (config `numerics`, hybrid_retrieval/numerics.py): set before anything imports torch.
from hybrid_retrieval.numerics import apply_numerics  # noqa: E402

apply_numerics(globals()["snakemake"].config)

from hybrid_retrieval.provenance import write_provenance  # noqa: E402
from hybrid_retrieval.workflow_support import job_log  # noqa: E402

snakemake = globals()["snakemake"]  # injected by Snakemake's script preamble
with job_log(snakemake.log[0]):
    write_provenance(
        snakemake.params.config,
        snakemake.output[0],
        model_dirs=snakemake.params.models,
        repo_dir=Path(snakemake.scriptdir).parents[1],  # the checkout (not a param: a moved run reruns nothing)
    )
