# Reproduction of "Some Attention is All You Need for Retrieval" (arXiv 2510.19861).
# Run: snakemake --cores 2 (embedded toy default) | --configfile config/paper.yaml --profile profiles/slurm
#
# resources/models/{model}/                        trained toy or pinned hub snapshot (hub layout)
# resources/haystack/paul_graham/                  pinned needle-test essays (real models only)
# results/{model}/retrieval/{experiment}.parquet   one row per trial x condition (E1-E4, E6, controls)
# results/{model}/heads/scores.parquet             per-head entropy and ablation effect
# results/{model}/recordings/heads.parquet         kept heads and needle mass per step (E7)
# results/{model}/mmlu/top-{k}-heads.parquet       one row per question (E5)
# results/tables/*.parquet|csv  results/claims.csv  results/figures/  results/report/index.html
# paper/generated/  paper/build/main.pdf
# logs/{rule}/{model}/...{log,benchmark.tsv}

from snakemake.utils import min_version, validate

min_version("9.0")

import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from hybrid_retrieval.config import load_config

# A --configfile replaces the default instead of being merged into it (Snakemake merges by default,
# which would add the toy models to a paper run).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# The typed model first: its errors name the key ("models.x.revision: Field required"). Then the
# exported JSON schema (no set_default: Snakemake would copy every oneOf branch's defaults).
CFG = load_config(config)
validate(config, "workflow/schemas/config.schema.yaml", set_default=False)


include: "workflow/rules/common.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/retrieval.smk"
include: "workflow/rules/heads.smk"
include: "workflow/rules/mmlu.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
