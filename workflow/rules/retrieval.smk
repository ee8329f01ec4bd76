# Needle-in-a-haystack experiments: one rule body (run_retrieval_experiment) for all of them, one shared
# script (run_retrieval_experiment.py) that calls hybrid_retrieval.jobs.experiments.run_experiment. Each
# experiment is the same rule with its own output file: `use rule ... with:` sets only the output, the
# per-rule log and benchmark paths and `retrieval_params(experiment)` (common.smk: the params, defined
# once), so a change to the body is made once. The sparsity sweep (heads.smk) also needs the head
# scores and has its own rule.


rule run_retrieval_experiment:
    input:
        unpack(model_inputs),
    output:
        "results/{model}/retrieval/{experiment}.parquet",
    log:
        "logs/run_retrieval_experiment/{model}/{experiment}.log",
    benchmark:
        "logs/run_retrieval_experiment/{model}/{experiment}.benchmark.tsv"
    # Only through the rules below (each names its output file); this one matches no file itself.
    wildcard_constraints:
        experiment="(?!)",
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=MODEL_GPUS,
    params:
        **retrieval_params(None),
    script:
        "../scripts/run_retrieval_experiment.py"


use rule run_retrieval_experiment as run_baseline_retrieval with:
    output:
        "results/{model}/retrieval/baseline.parquet",
    log:
        "logs/run_baseline_retrieval/{model}.log",
    benchmark:
        "logs/run_baseline_retrieval/{model}.benchmark.tsv"
    params:
        **retrieval_params("baseline"),


use rule run_retrieval_experiment as run_attention_ablation with:
    output:
        "results/{model}/retrieval/attention_ablated.parquet",
    log:
        "logs/run_attention_ablation/{model}.log",
    benchmark:
        "logs/run_attention_ablation/{model}.benchmark.tsv"
    params:
        **retrieval_params("attention_ablated"),


use rule run_retrieval_experiment as run_jrt_retrieval with:
    output:
        "results/{model}/retrieval/jrt.parquet",
    log:
        "logs/run_jrt_retrieval/{model}.log",
    benchmark:
        "logs/run_jrt_retrieval/{model}.benchmark.tsv"
    params:
        **retrieval_params("jrt"),


use rule run_retrieval_experiment as run_exposure_grid with:
    output:
        "results/{model}/retrieval/exposure.parquet",
    log:
        "logs/run_exposure_grid/{model}.log",
    benchmark:
        "logs/run_exposure_grid/{model}.benchmark.tsv"
    params:
        **retrieval_params("exposure"),


use rule run_retrieval_experiment as run_layer_controls with:
    output:
        "results/{model}/retrieval/controls.parquet",
    log:
        "logs/run_layer_controls/{model}.log",
    benchmark:
        "logs/run_layer_controls/{model}.benchmark.tsv"
    params:
        **retrieval_params("controls"),
