# Reproduction of "Some Attention is All You Need for Retrieval" (arXiv 2510.19861).
# Run: snakemake --cores 2 (embedded toy default) | --configfile config/paper.yaml --profile profiles/slurm
#      | --configfile config/paper.yaml --cores 8 --resources gpu=1 (one GPU machine). A config with
#      `run: <name>` writes everything below under runs/<name>/ instead of the working directory.
#
# resources/models/{model}/                        trained toy, or links to the hub snapshot in the HF cache
# resources/datasets/{org}/{repo}/snapshot.json     hub dataset (MMLU, GLUE) in the HF cache, at its commit
# resources/haystack/paul_graham/                  pinned needle-test essays (real models only)
# results/{model}/retrieval/{experiment}.parquet   one row per trial x condition (E1-E4, E6, controls)
# results/{model}/heads/scores.parquet             per-head entropy and ablation effect
# results/{model}/recordings/heads.parquet         kept heads and needle mass per step (E7)
# results/{model}/attention_maps/len{L}_depth{D}.npz raw attention maps and kept heads per step on a probe
# results/{model}/mmlu/top-{k}-heads.parquet       one row per question (E5)
# results/{model}/glue/{task}/top-{k}-heads.parquet one row per GLUE validation document (E5)
# results/tables/*.parquet|csv  results/claims.csv  results/figures/  results/report/index.html
# paper/generated/  paper/build/main.pdf
# logs/{rule}/{model}/...{log,benchmark.tsv}

from snakemake.utils import min_version, validate

min_version("9.0")

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from hybrid_retrieval.config import load_config
from hybrid_retrieval.errors import ConfigError

# A --configfile replaces the default instead of being merged into it (Snakemake merges by default,
# which would add the toy models to a paper run).
if not workflow.overwrite_configfiles:

    configfile: str(Path(workflow.basedir) / "config" / "config.yaml")  # also under --directory


# The typed model first: its errors name the key ("models.x.revision: Field required"). Then the
# exported JSON schema (no set_default: Snakemake would copy every oneOf branch's defaults).
try:
    CFG = load_config(config)
except ConfigError as error:
    if workflow.overwrite_configfiles and not {"models", "retrieval"} <= set(config):
        # A partial file (a few keys to change) given alone: say how to layer it.
        partial = os.path.relpath(workflow.overwrite_configfiles[-1])
        raise ConfigError(
            f"{error}\n{partial} is not a whole config: a --configfile replaces config/config.yaml "
            "rather than merging into it. To change a few keys, layer the files (later ones win): "
            f"--configfile config/config.yaml {partial}"
        ) from None
    raise
# The JSON schema checks the keys given, as the model parsed them (pydantic's lax parse first): Snakemake's
# nested `--config` overrides arrive as strings ('retrieval={"trials_per_cell": 3}' gives "3"), read as 3.
validate(
    CFG.model_dump(mode="json", exclude_unset=True),
    "workflow/schemas/config.schema.yaml",
    set_default=False,
)

# Hub revisions: a branch/tag is resolved once and locked beside the config (config/<name>.lock.yaml);
# from here on CFG names exact commits. An unresolvable ref fails here, before any job, with the fix.
from hybrid_retrieval.artifact.locking import argv_dry_run, lock_config

CONFIG_FILE = Path(workflow.configfiles[-1]).resolve()
CFG, HUB_PINS = lock_config(CFG, CONFIG_FILE, dry_run=argv_dry_run(sys.argv))

# Each named run has its own folder (results, resources, logs, paper, .snakemake): runs/<run>/ beside
# the Snakefile (absolute: a cluster job parses this file again from inside that folder).
# `--directory DIR` takes precedence (Snakemake then ignores `workdir:`).
if CFG.run:

    workdir: str(Path(workflow.basedir) / "runs" / CFG.run)


# `snakemake --report report.zip`: this description, the claims, the summary tables and the figures.
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/retrieval.smk"
include: "workflow/rules/heads.smk"
include: "workflow/rules/attention_maps.smk"
include: "workflow/rules/mmlu.smk"
include: "workflow/rules/glue.smk"
include: "workflow/rules/report.smk"


# A run outside the checkout (runs/<run>/, --directory DIR) builds the paper from its own copy of
# paper/main.tex, beside its own paper/generated/.
if Path.cwd().resolve() != Path(workflow.basedir).resolve():

    rule copy_paper_source:
        input:
            os.path.relpath(Path(workflow.basedir) / "paper" / "main.tex"),  # relative: a moved run keeps it
        output:
            "paper/main.tex",
        localrule: True
        shell:
            "cp {input} {output}"


rule all:
    default_target: True
    input:
        all_outputs(),
