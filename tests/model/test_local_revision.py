"""The revision recorded for a local model: labelled by what it is, hashed once per weights file set."""

import hashlib
import json
import shutil

from hybrid_retrieval.models import loading


def test_local_and_toy_labels_and_hash_cache(tiny_model_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    directory = shutil.copytree(tiny_model_dirs["jamba"], tmp_path / "model")
    sha = hashlib.sha256((directory / "model.safetensors").read_bytes()).hexdigest()
    assert loading.weights_revision(directory) == "local-" + sha[:12]

    reads = []
    real_open = type(directory).open
    monkeypatch.setattr(
        type(directory), "open", lambda self, *a, **k: (reads.append(self), real_open(self, *a, **k))[1]
    )
    assert loading.weights_revision(directory) == "local-" + sha[:12]
    assert not [p for p in reads if p.suffix == ".safetensors"]  # second load: from the cache, no re-hash

    (directory / loading.TOY_METADATA_FILE).write_text(json.dumps({"weights_sha256": sha}))
    assert loading.weights_revision(directory) == "toy-" + sha[:12]

    (directory / "model.safetensors").write_bytes(b"other weights")  # new size and mtime: hashed again
    assert loading.weights_revision(directory) == "toy-" + hashlib.sha256(b"other weights").hexdigest()[:12]


def test_toy_metadata_file_name_matches_the_trainer():
    from hybrid_retrieval.models.toy import METADATA_FILE

    assert loading.TOY_METADATA_FILE == METADATA_FILE
