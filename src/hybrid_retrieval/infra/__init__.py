"""The workflow and hub infrastructure: hub downloads and revision locks, provenance and CPU numerics,
the reference check, the workflow scripts' opening (code digests, job logs), progress lines, one-line
filesystem errors, the generated config docs and the end-of-run summary."""
