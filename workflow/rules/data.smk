# Evaluation datasets from the hub (MMLU: cais/mmlu; GLUE: nyu-mll/glue, the repos lm-eval 0.4 reads), at
# their locked commits, into the standard HF cache. The record resources/datasets/{org}/{repo}/snapshot.json
# ({repo_id, repo_type, revision, commit, path}) is what scoring rules take as input (docs/INTERFACES.md).
# A local rule: on a cluster it runs on the submit host.


rule download_dataset:
    output:
        "resources/datasets/{org}/{repo}/snapshot.json",
    log:
        "logs/download_dataset/{org}/{repo}.log",
    benchmark:
        "logs/download_dataset/{org}/{repo}.benchmark.tsv"
    wildcard_constraints:
        org=one_of({r.split("/")[0] for r in HUB_DATASETS}),
        repo=one_of({r.split("/")[1] for r in HUB_DATASETS}),
    localrule: True
    conda:
        "../../envs/torch.yaml"
    params:
        hub=dataset_params,
        code=CODE["dataset"],
    script:
        "../scripts/download_dataset.py"
