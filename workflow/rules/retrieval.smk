# Needle-in-a-haystack experiments: one rule per experiment, one shared script
# (run_retrieval_experiment.py) that calls hybrid_retrieval.experiments.run_experiment.


rule run_baseline_retrieval:
    input:
        unpack(model_inputs),
    output:
        "results/{model}/retrieval/baseline.parquet",
    log:
        "logs/run_baseline_retrieval/{model}.log",
    benchmark:
        "logs/run_baseline_retrieval/{model}.benchmark.tsv"
    resources:
        gpu=MODEL_GPUS,
    conda:
        "../../envs/torch.yaml"
    params:
        experiment="baseline",
        model=model_params,
        grid=grid_params("baseline"),
        haystack=haystack_params,
        settings=settings_params("baseline"),
        device=CFG.device,
        code=CODE["retrieval"],
    script:
        "../scripts/run_retrieval_experiment.py"


rule run_attention_ablation:
    input:
        unpack(model_inputs),
    output:
        "results/{model}/retrieval/attention_ablated.parquet",
    log:
        "logs/run_attention_ablation/{model}.log",
    benchmark:
        "logs/run_attention_ablation/{model}.benchmark.tsv"
    resources:
        gpu=MODEL_GPUS,
    conda:
        "../../envs/torch.yaml"
    params:
        experiment="attention_ablated",
        model=model_params,
        grid=grid_params("attention_ablation"),
        haystack=haystack_params,
        settings=settings_params("attention_ablation"),
        device=CFG.device,
        code=CODE["retrieval"],
    script:
        "../scripts/run_retrieval_experiment.py"


rule run_jrt_retrieval:
    input:
        unpack(model_inputs),
    output:
        "results/{model}/retrieval/jrt.parquet",
    log:
        "logs/run_jrt_retrieval/{model}.log",
    benchmark:
        "logs/run_jrt_retrieval/{model}.benchmark.tsv"
    resources:
        gpu=MODEL_GPUS,
    conda:
        "../../envs/torch.yaml"
    params:
        experiment="jrt",
        model=model_params,
        grid=grid_params("jrt"),
        haystack=haystack_params,
        settings=settings_params("jrt"),
        device=CFG.device,
        code=CODE["retrieval"],
    script:
        "../scripts/run_retrieval_experiment.py"


rule run_exposure_grid:
    input:
        unpack(model_inputs),
    output:
        "results/{model}/retrieval/exposure.parquet",
    log:
        "logs/run_exposure_grid/{model}.log",
    benchmark:
        "logs/run_exposure_grid/{model}.benchmark.tsv"
    resources:
        gpu=MODEL_GPUS,
    conda:
        "../../envs/torch.yaml"
    params:
        experiment="exposure",
        model=model_params,
        grid=grid_params("exposure"),
        haystack=haystack_params,
        settings=settings_params("exposure"),
        device=CFG.device,
        code=CODE["retrieval"],
    script:
        "../scripts/run_retrieval_experiment.py"


rule run_layer_controls:
    input:
        unpack(model_inputs),
    output:
        "results/{model}/retrieval/controls.parquet",
    log:
        "logs/run_layer_controls/{model}.log",
    benchmark:
        "logs/run_layer_controls/{model}.benchmark.tsv"
    resources:
        gpu=MODEL_GPUS,
    conda:
        "../../envs/torch.yaml"
    params:
        experiment="controls",
        model=model_params,
        grid=grid_params("controls"),
        haystack=haystack_params,
        settings=settings_params("controls"),
        device=CFG.device,
        code=CODE["retrieval"],
    script:
        "../scripts/run_retrieval_experiment.py"
