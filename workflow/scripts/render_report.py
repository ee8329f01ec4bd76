"""Rule render_report: the self-contained HTML report -> results/report/index.html."""

from pathlib import Path

from _job import script_job

with script_job(globals()["snakemake"]) as snakemake:
    from hybrid_retrieval.report.render import render_report

    render_report(
        tables_dir=Path(snakemake.input.tables[0]).parent,
        claims_csv=snakemake.input.claims,
        config=snakemake.params.config,
        benchmarks_dir=None,
        benchmarks=list(snakemake.input.benchmarks),
        out_html=snakemake.output[0],
        provenance=snakemake.input.provenance,
        reference_check=snakemake.input.reference_check,
        model_dirs=snakemake.params.model_dirs,
    )
