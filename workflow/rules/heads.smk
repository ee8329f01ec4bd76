# Heads: per-head scores (static-head control ranking), the k sweep (E4), attention recordings (E7).


rule score_attention_heads:
    input:
        unpack(model_inputs),
    output:
        "results/{model}/heads/scores.parquet",
    log:
        "logs/score_attention_heads/{model}.log",
    benchmark:
        "logs/score_attention_heads/{model}.benchmark.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=MODEL_GPUS,
    params:
        model=model_params,
        grid=grid_params("head_scores"),
        haystack=haystack_params,
        settings=settings_params("head_scores"),
        device=CFG.device,
        numerics=CFG.numerics,
        code=CODE["heads"],
    script:
        "../scripts/score_attention_heads.py"


rule run_sparsity_sweep:
    input:
        unpack(sweep_inputs),
    output:
        "results/{model}/retrieval/sparsity_sweep.parquet",
    log:
        "logs/run_sparsity_sweep/{model}.log",
    benchmark:
        "logs/run_sparsity_sweep/{model}.benchmark.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=MODEL_GPUS,
    params:
        **write_prompts_param(),
        experiment="sparsity_sweep",
        model=model_params,
        grid=grid_params("sparsity_sweep"),
        haystack=haystack_params,
        settings=settings_params("sparsity_sweep"),
        device=CFG.device,
        numerics=CFG.numerics,
        code=CODE["sweep"],
    script:
        "../scripts/run_retrieval_experiment.py"


rule record_attention_heads:
    input:
        unpack(model_inputs),
    output:
        "results/{model}/recordings/heads.parquet",
    log:
        "logs/record_attention_heads/{model}.log",
    benchmark:
        "logs/record_attention_heads/{model}.benchmark.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=MODEL_GPUS,
    params:
        model=model_params,
        grid=grid_params("recordings"),
        haystack=haystack_params,
        settings=settings_params("recordings"),
        device=CFG.device,
        numerics=CFG.numerics,
        code=CODE["record"],
    script:
        "../scripts/record_attention_heads.py"
