# E5: multiple choice (MMLU, or the toys' own knowledge set) at each k, prefill sparsity.


rule score_mmlu:
    input:
        unpack(mmlu_inputs),
    output:
        "results/{model}/mmlu/top-{k}-heads.parquet",
    log:
        "logs/score_mmlu/{model}/top-{k}-heads.log",
    benchmark:
        "logs/score_mmlu/{model}/top-{k}-heads.benchmark.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=MODEL_GPUS,
    params:
        model=model_params,
        k=mmlu_k,
        settings=settings_params("mmlu"),
        device=CFG.device,
        numerics=CFG.numerics,
        code=CODE["mmlu"],
    script:
        "../scripts/score_mmlu.py"
