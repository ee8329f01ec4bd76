# E5 (GLUE): lm-eval's `glue` tasks at each k of MMLU, prefill sparsity; one job per model x task x k.

from hybrid_retrieval.tasks.glue import GLUE_TASK_NAMES

CODE["glue"] = code_digest(
    "hybrid_retrieval.glue_eval",
    "hybrid_retrieval.multiple_choice",
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
    settings = settings_params("glue")
    if settings["num_shots"] is None:
        settings["num_shots"] = CFG.experiments.mmlu.num_shots
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


rule score_glue:
    input:
        unpack(glue_inputs),
    output:
        "results/{model}/glue/{task}/top-{k}-heads.parquet",
    log:
        "logs/score_glue/{model}/{task}/top-{k}-heads.log",
    benchmark:
        "logs/score_glue/{model}/{task}/top-{k}-heads.benchmark.tsv"
    wildcard_constraints:
        task=one_of(GLUE_TASK_NAMES),
    resources:
        gpu=MODEL_GPUS,
    conda:
        "../../envs/torch.yaml"
    params:
        model=model_params,
        k=mmlu_k,
        settings=glue_settings(),
        device=CFG.device,
        code=CODE["glue"],
    script:
        "../scripts/score_glue.py"
