"""Rule compare_reference: this run against reference/ -> results/reference_check.json (never fails)."""

import logging
from pathlib import Path

from _job import script_job

with script_job(globals()["snakemake"]) as snakemake:
    from hybrid_retrieval.artifact.reference import format_comparison, write_comparison

    result = write_comparison(
        Path(snakemake.input.provenance).parent, Path(snakemake.input.readme).parent, snakemake.output[0]
    )
    logging.getLogger("hybrid_retrieval").info("%s", format_comparison(result))
