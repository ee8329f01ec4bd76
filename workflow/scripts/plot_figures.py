"""Rule plot_figures: the figures with data, as Vega-Lite JSON, SVG and PDF -> results/figures/."""

from pathlib import Path

from _job import script_job

with script_job(globals()["snakemake"]) as snakemake:
    from hybrid_retrieval.report.families import model_families
    from hybrid_retrieval.report.figures import write_figures

    Path(snakemake.output[0]).mkdir(
        parents=True, exist_ok=True
    )  # a run with no figure data still has the folder
    write_figures(
        Path(snakemake.input[0]).parent,
        snakemake.output[0],
        formats=tuple(snakemake.params.formats),
        families=model_families(snakemake.params.models, snakemake.params.model_dirs),
    )
