"""Rule write_paper_sources: the generated LaTeX (macros, claims, tables, figures) -> paper/generated/."""

from pathlib import Path

from _job import script_job

with script_job(globals()["snakemake"]) as snakemake:
    from hybrid_retrieval.report.latex import write_paper_sources

    write_paper_sources(
        tables_dir=Path(snakemake.input.tables[0]).parent,
        claims_csv=snakemake.input.claims,
        figures_dir=snakemake.input.figures,
        out_dir=snakemake.output[0],
        max_new_tokens=snakemake.params.max_new_tokens,
    )
