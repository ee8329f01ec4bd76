"""File names that several rooms share: the files of a model folder, the aggregate tables, the attention-map
probes. Plain constants (no Polars, no torch), so the Snakefile, the schema and torch-free modules import
them instead of copying them."""

from __future__ import annotations

# A model folder (resources/models/{model}/: a trained toy, or links to a hub snapshot).
TOY_METADATA_FILE = "toy_metadata.json"  # a toy's training record and own scores (models.toy)
REVISION_FILE = "revision.txt"  # a hub model's commit, read into every result row (models.loading)
SNAPSHOT_FILE = "snapshot.json"  # {repo_id, revision, commit, path} of a hub model or dataset snapshot (hub)

# The tables `aggregate` writes to results/tables/{name}.parquet|csv (the first is also the rule's marker).
TABLE_NAMES = (
    "retrieval_summary",
    "retrieval_cells",
    "sparsity_curve",
    "sparsity_threshold",
    "mmlu_summary",
    "mmlu_subjects",
    "glue_summary",
    "heads",
    "retrieval_trials",
    "mmlu_items",
)


def probe_name(context_length: int, depth: float) -> str:
    """`len<L>_depth<D>` (the depth without a trailing .0): an attention-map probe's file stem
    (results/{model}/attention_maps/{probe}.npz)."""
    return f"len{int(context_length)}_depth{float(depth):g}"
