# Raw attention maps on the probe prompts (experiments.attention_maps; hybrid_retrieval.jobs.attention_maps):
# per model one float16 npz per probe, then their key-binned summary for the report's figure.

from hybrid_retrieval.filenames import probe_name

ATTENTION_PROBES = [
    probe_name(p.context_length, p.depth) for p in CFG.experiments.attention_maps.probes
]


rule record_attention_maps:
    input:
        unpack(model_inputs),
    output:
        [f"results/{{model}}/attention_maps/{probe}.npz" for probe in ATTENTION_PROBES],
    log:
        "logs/record_attention_maps/{model}.log",
    benchmark:
        "logs/record_attention_maps/{model}.benchmark.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=MODEL_GPUS,
    params:
        model=model_params,
        grid=CFG.retrieval.model_dump(mode="json"),
        haystack=haystack_params,
        settings=settings_params("attention_maps"),
        device=CFG.device,
        numerics=CFG.numerics,
        code=CODE["attention_maps"],
    script:
        "../scripts/record_attention_maps.py"


rule summarize_attention_maps:
    input:
        attention_maps_results(),
    output:
        "results/tables/attention_maps.parquet",
    log:
        "logs/summarize_attention_maps/all.log",
    benchmark:
        "logs/summarize_attention_maps/all.benchmark.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        code=CODE["attention_maps"],
    script:
        "../scripts/summarize_attention_maps.py"
