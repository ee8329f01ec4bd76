# From per-trial rows to tables, claims, figures, the HTML report and the paper.


rule aggregate_results:
    input:
        model_results(),
    output:
        expand("results/tables/{table}.parquet", table=TABLE_NAMES),
        # The summary tables are `snakemake --report` items, captioned as in the HTML report.
        [
            (
                report(
                    f"results/tables/{table}.csv",
                    caption=f"../report/table_{table}.rst",
                    category="Tables",
                )
                if table in REPORT_TABLES
                else f"results/tables/{table}.csv"
            )
            for table in TABLE_NAMES
        ],
    log:
        "logs/aggregate_results/all.log",
    benchmark:
        "logs/aggregate_results/all.benchmark.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        retention_fraction=CFG.claims.retention_fraction,
        numerics=CFG.numerics,
        code=CODE["aggregate"],
    script:
        "../scripts/aggregate_results.py"


rule check_claims:
    input:
        expand("results/tables/{table}.parquet", table=TABLE_NAMES),
    output:
        report("results/claims.csv", caption="../report/claims.rst", category="Claims"),
    log:
        "logs/check_claims/all.log",
    benchmark:
        "logs/check_claims/all.benchmark.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        claims=CFG.claims.model_dump(mode="json"),
        models=list(CFG.models),
        families=CFG.model_families(),
        code=CODE["claims"],
    script:
        "../scripts/check_claims.py"


rule plot_figures:
    input:
        expand("results/tables/{table}.parquet", table=TABLE_NAMES),
        attention_maps_table(),  # after the tables: the script reads the folder of input[0]
        models=[CFG.model_dir(m) for m in CFG.models],  # each config.json names the family (panel labels)
    output:
        report(
            directory("results/figures"),
            patterns=["{name}.svg"],
            caption="../report/figures.rst",
            category="Figures",
        ),
    log:
        "logs/plot_figures/all.log",
    benchmark:
        "logs/plot_figures/all.benchmark.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        formats=CFG.report.figure_formats,
        # for the `snakemake --report` captions (workflow/report/figures.rst); figures.py is in `code`
        captions=FIGURE_CAPTIONS,
        # a toy's arch: its family (when its config.json cannot be read)
        models={
            "models": {
                m: {"source": s.source, "arch": getattr(s, "arch", None)}
                for m, s in CFG.models.items()
            }
        },
        model_dirs={m: CFG.model_dir(m) for m in CFG.models},
        code=CODE["figures"],
    script:
        "../scripts/plot_figures.py"


# What the run ran on (machine, kernels, numerics, versions, toy weight hashes), after aggregation.
rule record_provenance:
    input:
        tables=expand("results/tables/{table}.parquet", table=TABLE_NAMES),
        models=[CFG.model_dir(m) for m in TOY_MODELS],
    output:
        "results/provenance.json",
    log:
        "logs/record_provenance/all.log",
    benchmark:
        "logs/record_provenance/all.benchmark.tsv"
    conda:
        "../../envs/torch.yaml"
    params:
        config=CFG.model_dump(mode="json"),
        models={m: CFG.model_dir(m) for m in TOY_MODELS},
        numerics=CFG.numerics,
        code=CODE["provenance"],  # the checkout (git commit) is found from the script: no absolute path here
    script:
        "../scripts/record_provenance.py"


# The run against the committed reference outputs (reference/README.md); never fails the run. Relative to
# the run's folder, so a run moved with its checkout keeps its input paths (no rerun).
REFERENCE_DIR = Path(os.path.relpath(Path(workflow.basedir) / "reference"))


rule compare_reference:
    input:
        tables=expand("results/tables/{table}.csv", table=TABLE_NAMES),
        claims="results/claims.csv",
        provenance="results/provenance.json",
        readme=REFERENCE_DIR / "README.md",  # committed: the folder exists even before a reference does
        reference=sorted(str(p) for p in REFERENCE_DIR.rglob("*") if p.is_file()),
    output:
        "results/reference_check.json",
    log:
        "logs/compare_reference/all.log",
    benchmark:
        "logs/compare_reference/all.benchmark.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        code=CODE["reference"],
    script:
        "../scripts/compare_reference.py"


rule render_report:
    input:
        tables=expand("results/tables/{table}.parquet", table=TABLE_NAMES),
        attention_maps=attention_maps_table(),
        claims="results/claims.csv",
        figures="results/figures",
        provenance="results/provenance.json",
        reference_check="results/reference_check.json",
        benchmarks=report_benchmarks,
        models=[CFG.model_dir(m) for m in CFG.models],  # each config.json names the family (grouping)
    output:
        report(
            "results/report/index.html",
            caption="../report/index.rst",
            category="Report",
        ),
    log:
        "logs/render_report/all.log",
    benchmark:
        "logs/render_report/all.benchmark.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        config=CFG.model_dump(mode="json"),
        model_dirs={m: CFG.model_dir(m) for m in CFG.models},
        code=CODE["report"],
    script:
        "../scripts/render_report.py"


rule write_paper_sources:
    input:
        tables=expand("results/tables/{table}.parquet", table=TABLE_NAMES),
        claims="results/claims.csv",
        figures="results/figures",
    output:
        directory("paper/generated"),
    log:
        "logs/write_paper_sources/all.log",
    benchmark:
        "logs/write_paper_sources/all.benchmark.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        code=CODE["paper"],
        max_new_tokens=CFG.retrieval.max_new_tokens,
    script:
        "../scripts/write_paper_sources.py"


rule build_paper_pdf:
    input:
        tex="paper/main.tex",
        generated="paper/generated",
    output:
        "paper/build/main.pdf",
    log:
        "logs/build_paper_pdf/all.log",
    benchmark:
        "logs/build_paper_pdf/all.benchmark.tsv"
    conda:
        "../../envs/latex.yaml"
    params:
        code=CODE["paper"],
    script:
        "../scripts/build_paper_pdf.py"
