"""The MMLU loader reads the hub snapshot layout the download rule produces (cais/mmlu: one parquet
config per subject, `all/` skipped), directly or through its snapshot.json record."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from hybrid_retrieval.errors import DataError
from hybrid_retrieval.tasks.mmlu import dataset_label, load_mc_dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "rehearsal"))  # test tooling
from standins import write_mmlu  # noqa: E402


def test_hub_layout_and_snapshot_record(tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshots" / ("a" * 40)
    write_mmlu(snapshot, subjects=("anatomy", "abstract_algebra"), n_test=3)
    data = load_mc_dataset(snapshot)
    assert sorted(data) == ["dev", "test", "val"]  # validation -> val, as the CSV layout names it
    assert list(data["test"]) == ["abstract_algebra", "anatomy"]  # sorted, `all` not a subject
    assert [len(v) for v in data["test"].values()] == [3, 3] and len(data["dev"]["anatomy"]) == 5
    q = data["test"]["anatomy"][0]
    assert q.subject == "anatomy" and q.answer in "ABCD" and len(q.choices) == 4
    record = tmp_path / "resources/datasets/cais/mmlu/snapshot.json"
    record.parent.mkdir(parents=True)
    record.write_text(
        json.dumps(
            {
                "repo_id": "cais/mmlu",
                "repo_type": "dataset",
                "revision": "main",
                "commit": "a" * 40,
                "path": str(snapshot),
            }
        )
    )
    assert load_mc_dataset(record) == data
    assert dataset_label(record) == "cais/mmlu@" + "a" * 40


def test_a_record_whose_snapshot_is_gone_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    record = tmp_path / "snapshot.json"
    record.write_text(
        json.dumps(
            {
                "repo_id": "cais/mmlu",
                "repo_type": "dataset",
                "commit": "b" * 40,
                "path": str(tmp_path / "gone"),
            }
        )
    )
    with pytest.raises(DataError, match="no longer at .* delete .*snapshot.json and rerun"):
        load_mc_dataset(record)
