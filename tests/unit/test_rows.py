"""hybrid_retrieval.rows: one schema per result file, read by producers and by aggregate alike."""

from __future__ import annotations

import polars as pl
import pytest

from hybrid_retrieval import rows
from hybrid_retrieval.analysis import aggregate


def test_aggregate_reads_the_producers_columns_widened() -> None:
    pairs = [
        (rows.RETRIEVAL_COLUMNS, rows.RETRIEVAL_SCHEMA),
        (rows.MC_COLUMNS, rows.MC_SCHEMA),
        (rows.GLUE_COLUMNS, rows.GLUE_ROW_SCHEMA),
        (rows.HEAD_SCORE_COLUMNS, rows.HEAD_SCORE_SCHEMA),
        (rows.RECORDING_COLUMNS, rows.RECORDING_SCHEMA),
    ]
    for read, written in pairs:
        assert set(read) <= set(written)
        for name, dtype in read.items():
            source = written[name]
            assert dtype == (pl.Int64() if source.is_integer() else pl.Float64() if source.is_float() else source)
    # recordings are written narrow (Int16 heads, Float32 entropies) and read as Int64 / Float64
    assert rows.RECORDING_COLUMNS["head"] == pl.Int64() and rows.RECORDING_COLUMNS["entropy"] == pl.Float64()
    assert aggregate.RETRIEVAL_COLUMNS is rows.RETRIEVAL_COLUMNS  # aggregate keeps no copy of its own


def test_the_intervention_columns_are_one_block_in_every_row_kind() -> None:
    block = list(rows.INTERVENTION_COLUMNS)
    for schema in (rows.RETRIEVAL_SCHEMA, rows.MC_SCHEMA, rows.GLUE_ROW_SCHEMA):
        names = list(schema)
        start = names.index(block[0])
        assert names[start : start + len(block)] == block
        assert all(schema[c] == rows.INTERVENTION_COLUMNS[c] for c in block)


def test_producers_write_the_rows_schemas() -> None:
    pytest.importorskip("torch")
    from hybrid_retrieval.jobs import (
        attention_maps,
        evaluate,
        glue_eval,
        head_scores,
        multiple_choice,
        recording,
    )

    assert evaluate.RETRIEVAL_SCHEMA is rows.RETRIEVAL_SCHEMA
    assert glue_eval.GLUE_ROW_SCHEMA is rows.GLUE_ROW_SCHEMA
    assert multiple_choice.MC_SCHEMA is rows.MC_SCHEMA
    assert head_scores.HEAD_SCORE_SCHEMA is rows.HEAD_SCORE_SCHEMA
    assert recording.RECORDING_SCHEMA is rows.RECORDING_SCHEMA
    assert attention_maps.SUMMARY_SCHEMA is rows.ATTENTION_MAPS_SUMMARY_SCHEMA


def test_read_columns_refuses_a_column_the_producer_does_not_write() -> None:
    with pytest.raises(KeyError, match="'exactt'"):
        rows.read_columns(rows.RETRIEVAL_SCHEMA, "model", "exactt")


def test_file_names_have_one_spelling() -> None:
    """The model-folder file names are string literals in filenames.py only (they were copied to dodge torch)."""
    import ast
    from pathlib import Path

    from hybrid_retrieval import filenames

    names = {filenames.TOY_METADATA_FILE, filenames.REVISION_FILE, filenames.SNAPSHOT_FILE}
    src = Path(filenames.__file__).parent
    spelled = {
        (str(path.relative_to(src)), node.value)
        for path in src.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in names
    }
    assert {where for where, _ in spelled} == {"filenames.py"}, sorted(spelled)
    assert aggregate.TABLE_NAMES is filenames.TABLE_NAMES


def test_intervention_values_are_the_spec_and_head_fields_in_column_order() -> None:
    pytest.importorskip("torch")
    from hybrid_retrieval.interventions import InterventionSpec

    spec = InterventionSpec(kind="entropy_topk", k=2, phase="all", head_score="l2")
    values = rows.intervention_values(spec.fields(), {"num_heads": 8, "kept_fraction": 0.25, "attention_window": None})
    assert values == {
        "condition": spec.label(), "intervention_hash": spec.spec_hash(), "kind": "entropy_topk", "k": 2,
        "num_heads": 8, "kept_fraction": 0.25, "phase": "all",
    }  # fmt: skip
    assert list(values) == list(rows.INTERVENTION_COLUMNS)
