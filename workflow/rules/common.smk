# Helpers and input functions only (no rules). Everything here reads the validated `CFG`
# (hybrid_retrieval.config.Config) and hands rules plain dicts, so Snakemake's params trigger sees
# every value that changes a result. `numerics` (the CPU kernels) is a param of every rule whose script
# applies it (workflow_support.script_job reads it from there, never from the config).

import re
import shutil

from hybrid_retrieval.config import EXPERIMENT_SECTIONS
from hybrid_retrieval.infra.workflow_support import code_digest

# The tables `aggregate_results` writes, and the figures' captions: constants of modules that import
# no Polars, Altair or torch (the Snakefile parses without them; tests/unit/test_layering.py).
from hybrid_retrieval.filenames import TABLE_NAMES
from hybrid_retrieval.report.captions import FIGURE_CAPTIONS

# Summary tables shown as `snakemake --report` items (captions: workflow/report/table_<name>.rst).
REPORT_TABLES = ("retrieval_summary", "sparsity_threshold", "mmlu_summary")

TOY_MODELS = [name for name, m in CFG.models.items() if m.source == "toy"]
HUB_MODELS = [name for name, m in CFG.models.items() if m.source == "hub"]
# Hub datasets some experiment reads, downloaded by download_dataset (repo_id -> config.HubDataset)
HUB_DATASETS = {d.repo_id: d for d in CFG.hub_datasets_in_use().values()}
HAYSTACK_DIR = "resources/haystack/paul_graham"
# GPUs per model job (the `gpu` resource of each model-loading rule). A local run with
# `--resources gpu=1` never puts two model jobs on one GPU; SLURM requests it once (--gpus).
MODEL_GPUS = 0 if CFG.device in ("cpu", "mps") else 1


def one_of(names):
    """A wildcard regex matching exactly these names (or nothing when there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


wildcard_constraints:
    model=one_of(CFG.models),
    k="H|[0-9]+",


# ------------------------------------------------------------------------------------ code digests
# Each rule's `code` param: the package modules its script calls, with their imports.
_GLUE = ("hybrid_retrieval.jobs.experiments",)
CODE = {
    "provenance": code_digest("hybrid_retrieval.infra.provenance"),
    "reference": code_digest("hybrid_retrieval.artifact.reference"),
    # numerics: the kernels every toy job runs on (a change retrains the toys, and so reruns all after them)
    "toy": code_digest(
        "hybrid_retrieval.models.toy", "hybrid_retrieval.infra.numerics"
    ),
    "download": code_digest("hybrid_retrieval.infra.hub"),
    "dataset": code_digest("hybrid_retrieval.infra.hub"),
    "haystack": code_digest("hybrid_retrieval.tasks.haystack"),
    "retrieval": code_digest(
        "hybrid_retrieval.jobs.evaluate",
        "hybrid_retrieval.tasks.niah",
        "hybrid_retrieval.tasks.haystack",
        "hybrid_retrieval.interventions",
        shallow=_GLUE,
    ),
    "sweep": code_digest(
        "hybrid_retrieval.jobs.evaluate",
        "hybrid_retrieval.tasks.niah",
        "hybrid_retrieval.tasks.haystack",
        "hybrid_retrieval.jobs.head_scores",
        shallow=_GLUE,
    ),
    "heads": code_digest(
        "hybrid_retrieval.jobs.head_scores",
        "hybrid_retrieval.tasks.niah",
        shallow=_GLUE,
    ),
    "record": code_digest(
        "hybrid_retrieval.jobs.recording", "hybrid_retrieval.tasks.niah", shallow=_GLUE
    ),
    "mmlu": code_digest(
        "hybrid_retrieval.jobs.multiple_choice",
        "hybrid_retrieval.tasks.mmlu",
        "hybrid_retrieval.interventions",
        shallow=_GLUE,
    ),
    "aggregate": code_digest("hybrid_retrieval.analysis.aggregate"),
    "claims": code_digest("hybrid_retrieval.claims"),
    "figures": code_digest("hybrid_retrieval.report.figures"),
    "report": code_digest("hybrid_retrieval.report.render"),
    "paper": code_digest("hybrid_retrieval.report.latex"),
    "attention_maps": code_digest(
        "hybrid_retrieval.jobs.attention_maps",
        "hybrid_retrieval.jobs.recording",
        "hybrid_retrieval.tasks.niah",
        shallow=_GLUE,
    ),
}


# ------------------------------------------------------------- params (plain dicts, from hybrid_retrieval.config)
def model_dir(wildcards):
    return CFG.model_dir(wildcards.model)


def model_params(wildcards):
    return CFG.model_params(wildcards.model)


def toy_params(wildcards):
    return CFG.toy_params(wildcards.model)


def hub_params(wildcards):
    spec = CFG.models[wildcards.model]
    return {"repo_id": spec.repo_id, "revision": spec.revision}


def _pin(key):
    """The locked pin of "models/<repo>" or "datasets/<repo>" (HUB_PINS, resolved by the Snakefile)."""
    return next(p for p in HUB_PINS if p.ref.key == key)


def hub_snapshot_params(wildcards):
    """A hub model's repository, the revision as the config names it, and its locked commit."""
    pin = _pin(f"models/{CFG.models[wildcards.model].repo_id}")
    return {
        "repo_id": pin.ref.repo_id,
        "revision": pin.ref.revision,
        "commit": pin.commit,
    }


def dataset_params(wildcards):
    """A hub dataset's repository, revision as named and locked commit (for download_dataset)."""
    pin = _pin(f"datasets/{wildcards.org}/{wildcards.repo}")
    return {
        "repo_id": pin.ref.repo_id,
        "revision": pin.ref.revision,
        "commit": pin.commit,
    }


def haystack_params(wildcards):
    return CFG.haystack_params(wildcards.model)


# ------------------------------------------------------------------------------------------- inputs
def model_inputs(wildcards):
    """Named inputs of every model step: the model directory and, for the essays, the haystack."""
    inputs = {"model": model_dir(wildcards)}
    if CFG.haystack.kind == "paul_graham":
        inputs["haystack"] = HAYSTACK_DIR
    return inputs


def sweep_inputs(wildcards):
    inputs = model_inputs(wildcards)
    if CFG.experiments.sparsity_sweep.static_heads.enabled:
        inputs["scores"] = f"results/{wildcards.model}/heads/scores.parquet"
    return inputs


def retrieval_params(experiment):
    """The params of a retrieval experiment's rule (retrieval.smk), by its name (the output file's stem).
    Not functions of the output: Snakemake does not record such "derived" params, so a config change
    would not rerun the job. None: the template rule, which runs nothing."""
    section = EXPERIMENT_SECTIONS.get(experiment)
    return {
        "experiment": experiment,
        "model": model_params,
        "grid": grid_params(section) if section else {},
        "haystack": haystack_params,
        "settings": settings_params(section) if section else {},
        "device": CFG.device,
        "numerics": CFG.numerics,
        "code": CODE["retrieval"],
        **write_prompts_param(),
    }


def write_prompts_param():
    """retrieval.write_prompts as a param only when on: switching it on reruns the retrieval jobs (to
    write the prompts), and the default adds nothing to their params."""
    return {"write_prompts": True} if CFG.retrieval.write_prompts else {}


def grid_params(section):
    """The shared grid with the section's overrides (Config.grid_for)."""
    return CFG.grid_for(section)


def settings_params(section):
    """The experiment's own settings (Config.settings: not which models, not the grid, those have their
    own params; with `sparsification.head_score` where the section sparsifies). MMLU's dataset "hub"
    becomes the path of its downloaded snapshot record."""
    settings = CFG.settings(section)
    if section == "mmlu" and settings["dataset"] == "hub":
        settings["dataset"] = CFG.dataset_record("mmlu")
    return settings


def mmlu_inputs(wildcards):
    """The model and, for a dataset on disk, the dataset (so a missing one is a clear missing input)."""
    inputs = {"model": model_dir(wildcards)}
    dataset = CFG.experiments.mmlu.dataset
    if dataset == "hub":
        inputs["dataset"] = CFG.dataset_record("mmlu")  # rule download_dataset
    elif dataset != "toy" and not dataset.startswith("hub:"):
        inputs["dataset"] = dataset
    return inputs


def mmlu_k(wildcards):
    return "H" if wildcards.k == "H" else int(wildcards.k)


# ------------------------------------------------------------------------------------- GLUE (glue.smk)
from hybrid_retrieval.tasks.glue import GLUE_TASK_NAMES

CODE["glue"] = code_digest(
    "hybrid_retrieval.jobs.glue_eval",
    "hybrid_retrieval.jobs.multiple_choice",
    "hybrid_retrieval.tasks.glue",
    "hybrid_retrieval.interventions",
    shallow=_GLUE,
)


def glue_ks():
    """experiments.glue.k, or MMLU's k when unset (the authors ran both at the same k)."""
    ks = CFG.experiments.glue.k or CFG.experiments.mmlu.k
    return list(dict.fromkeys(str(k) for k in ks))


def glue_settings():
    """The section's settings with num_shots resolved (unset = MMLU's: one num_fewshot for both)."""
    settings = {**settings_params("glue"), "num_shots": CFG.glue_num_shots()}
    return {key: value for key, value in settings.items() if key not in ("k", "tasks")}


def glue_inputs(wildcards):
    """The model and the dataset: the hub snapshot record (rule download_dataset) or a local copy."""
    dataset = CFG.experiments.glue.dataset
    source = CFG.dataset_record("glue") if dataset == "hub" else dataset
    return {"model": model_dir(wildcards), "dataset": source}


def glue_results():
    return [
        f"results/{m}/glue/{task}/top-{k}-heads.parquet"
        for m in CFG.models_for("glue")
        for task in dict.fromkeys(CFG.experiments.glue.tasks)
        for k in glue_ks()
    ]


# ------------------------------------------------------------------------------------------ targets
def retrieval_results():
    return [
        f"results/{model}/retrieval/{experiment}.parquet"
        for experiment, section in EXPERIMENT_SECTIONS.items()
        for model in CFG.models_for(section)
    ]


def model_results():
    """Every per-model result file of the config: the inputs of `aggregate_results`."""
    files = retrieval_results()
    files += [
        f"results/{m}/heads/scores.parquet" for m in CFG.models_for("head_scores")
    ]
    files += [
        f"results/{m}/recordings/heads.parquet" for m in CFG.models_for("recordings")
    ]
    files += [
        f"results/{m}/mmlu/top-{k}-heads.parquet"
        for m in CFG.models_for("mmlu")
        for k in dict.fromkeys(str(k) for k in CFG.experiments.mmlu.k)
    ]
    files += glue_results()
    return files


def attention_maps_results():
    """Every model's probe maps (experiments.attention_maps): the inputs of `summarize_attention_maps`."""
    return [
        f"results/{m}/attention_maps/{probe}.npz"
        for m in CFG.models_for("attention_maps")
        for probe in ATTENTION_PROBES
    ]


def attention_maps_table():
    """The figure's table of the maps, or nothing when no model records them (plot_figures, render_report)."""
    return ["results/tables/attention_maps.parquet"] if attention_maps_results() else []


def build_pdf():
    """Whether `all` includes paper/build/main.pdf (report.paper_pdf; auto = a LaTeX engine exists)."""
    if CFG.report.paper_pdf == "auto":
        return bool(shutil.which("latexmk") or shutil.which("pdflatex"))
    return bool(CFG.report.paper_pdf)


# The runtime table of render_report (report.smk): the benchmark files of the jobs the report is built
# from, found from the files those jobs make (Snakemake counts a benchmark file among a job's products, so
# they are ordinary inputs; as for any input, a deleted one is made again by rerunning its job). Only the
# current config's jobs are read, never a stale file of another run; the report and the paper finish after
# the report is written and are not in it.
def _benchmark_of(path):
    """The benchmark file of the job that makes `path`, or None (a local model: no job makes it)."""
    for maker in workflow.rules:
        if maker.benchmark and maker.is_producer(path):
            return maker.benchmark.apply_wildcards(maker.get_wildcards(path))
    return None


def report_benchmarks(wildcards):
    results = model_results()
    made = (
        results
        + attention_maps_results()
        + attention_maps_table()
        + [
            f"results/tables/{TABLE_NAMES[0]}.parquet",
            "results/claims.csv",
            "results/figures",
            "results/provenance.json",
            "results/reference_check.json",
        ]
    )
    made += [CFG.model_dir(m) for m in dict.fromkeys(Path(p).parts[1] for p in results)]
    made += [f"resources/datasets/{repo_id}/snapshot.json" for repo_id in HUB_DATASETS]
    if CFG.haystack.kind == "paul_graham" and retrieval_results():
        made.append(HAYSTACK_DIR)
    return sorted({b for b in map(_benchmark_of, made) if b is not None})


def all_outputs():
    targets = [
        "results/claims.csv",
        "results/figures",
        "results/report/index.html",
        "paper/generated",
    ]
    if build_pdf():
        targets.append("paper/build/main.pdf")
    return targets
