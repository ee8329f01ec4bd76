# E5 (GLUE): lm-eval's `glue` tasks at each k of MMLU, prefill sparsity; one job per model x task x k.


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
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=MODEL_GPUS,
    params:
        model=model_params,
        k=mmlu_k,
        settings=glue_settings(),
        device=CFG.device,
        numerics=CFG.numerics,
        code=CODE["glue"],
    script:
        "../scripts/score_glue.py"
