"""A corrupt or truncated safetensors file at load time: one ModelLoadError line naming the file and the
fix (safetensors raises SafetensorError, which is neither OSError nor ValueError)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from hybrid_retrieval.errors import ModelLoadError
from hybrid_retrieval.models.loading import load_model


def test_a_truncated_safetensors_file_names_the_file_and_the_fix(
    tiny_model_dirs: dict[str, Path], tmp_path: Path
) -> None:
    directory = shutil.copytree(tiny_model_dirs["recurrent_gemma"], tmp_path / "local")
    weights = directory / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)
    with pytest.raises(ModelLoadError) as info:
        load_model(directory)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{weights} is corrupt or truncated (")
    assert "replace it with a complete copy" in message


def test_a_corrupt_header_behind_a_cache_link_names_the_blob_and_says_download_again(
    tiny_model_dirs: dict[str, Path], tmp_path: Path
) -> None:
    """A hub model: the model dir links into the HF cache; the fix is a new download (which checks the blob)."""
    source = tiny_model_dirs["jamba"]
    blobs = tmp_path / "hf-cache" / "blobs"
    blobs.mkdir(parents=True)
    model_dir = tmp_path / "runs" / "r" / "resources" / "models" / "jamba"
    model_dir.mkdir(parents=True)
    for path in source.iterdir():
        blob = blobs / path.name
        shutil.copy2(path, blob)
        (model_dir / path.name).symlink_to(blob)
    data = bytearray((blobs / "model.safetensors").read_bytes())
    data[8:24] = b"\xff" * 16  # the JSON header no longer parses
    (blobs / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ModelLoadError) as info:
        load_model(model_dir)
    message = str(info.value)
    assert "\n" not in message
    assert f"{model_dir / 'model.safetensors'} (the cached blob {blobs / 'model.safetensors'})" in message
    assert f"delete {model_dir} and download it again" in message
