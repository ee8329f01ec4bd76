# Models and data: a toy trained here, or a hub snapshot at its locked commit (in the standard HF cache,
# linked from resources/models/{model}); the needle-test essays. Downloads are local rules: on a cluster
# they run on the submit host (compute nodes are often offline).


# A killed or requeued training job resumes from its checkpoint in resources/models/.progress/ (written by
# models.toy.checkpoint, removed when the model is done): deliberately not an output, since Snakemake
# deletes a failed job's outputs.
rule train_toy_model:
    output:
        directory("resources/models/{model}"),
    log:
        "logs/train_toy_model/{model}.log",
    benchmark:
        "logs/train_toy_model/{model}.benchmark.tsv"
    wildcard_constraints:
        model=one_of(TOY_MODELS),
    conda:
        "../../envs/torch.yaml"
    params:
        toy=toy_params,
        numerics=CFG.numerics,
        code=CODE["toy"],
    message:
        "Training toy model {wildcards.model} (several minutes on a CPU; progress with ETA: tail -f {log})"
    script:
        "../scripts/train_toy_model.py"


rule download_model_snapshot:
    output:
        directory("resources/models/{model}"),
    log:
        "logs/download_model_snapshot/{model}.log",
    benchmark:
        "logs/download_model_snapshot/{model}.benchmark.tsv"
    wildcard_constraints:
        model=one_of(HUB_MODELS),
    localrule: True
    conda:
        "../../envs/torch.yaml"
    params:
        hub=hub_snapshot_params,
        code=CODE["download"],
    script:
        "../scripts/download_model_snapshot.py"


rule download_haystack:
    output:
        directory(HAYSTACK_DIR),
    log:
        "logs/download_haystack/paul_graham.log",
    benchmark:
        "logs/download_haystack/paul_graham.benchmark.tsv"
    localrule: True
    conda:
        "../../envs/report.yaml"
    params:
        base_url=CFG.haystack.base_url,
        commit=CFG.haystack.commit,
        sha256=CFG.haystack.sha256,
        from_dir=CFG.haystack.from_dir,
        code=CODE["haystack"],
    script:
        "../scripts/download_haystack.py"
