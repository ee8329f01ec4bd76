"""The workflow's infrastructure below the tasks and models: hub downloads (`hub`), CPU numerics, provenance,
the workflow scripts' opening and code digests (`workflow_support`), progress lines and one-line
filesystem errors. Revision locks, the reference check, the config docs and the run summary read the
config, so they live a floor higher, in `artifact/`."""
