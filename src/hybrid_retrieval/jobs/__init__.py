"""What a model job runs: retrieval trials, head scores, recordings, attention maps, multiple choice
(MMLU, GLUE) under an intervention, the canary that proves the intervention before a row is written, and
`experiments`, the glue from rule parameters (Snakemake params, CLI arguments) to these."""
