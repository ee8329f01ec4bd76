"""load_model on hub-snapshot-layout directories, and the error cases (nothing touches the network)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from hybrid_retrieval import hub
from hybrid_retrieval.errors import ConfigError, ModelLoadError, UnknownArchitectureError
from hybrid_retrieval.models import loading
from hybrid_retrieval.models.loading import REVISION_FILE, download_snapshot, load_model

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_load_hub_layout(tiny_model_dirs: dict[str, Path], tiny_arch: str) -> None:
    directory = tiny_model_dirs[tiny_arch]
    loaded = load_model(directory)
    assert loaded.name == tiny_arch
    assert loaded.adapter.model_type == tiny_arch == loaded.model.config.model_type
    assert not loaded.model.training
    assert loaded.model.config._attn_implementation == "eager"
    assert next(loaded.model.parameters()).dtype == torch.float32
    weights = (directory / "model.safetensors").read_bytes()
    # A local directory that is not a toy trained here (no toy_metadata.json): "local-", not "toy-".
    assert loaded.revision == "local-" + hashlib.sha256(weights).hexdigest()[:12]
    assert loaded.tokenizer("w1 w2").input_ids == [2, 5, 6]  # <bos> prepended, word-level ids


def test_revision_file_and_dtype_and_name(tiny_model_dirs: dict[str, Path], tmp_path: Path) -> None:
    directory = shutil.copytree(tiny_model_dirs["recurrent_gemma"], tmp_path / "snap")
    (directory / REVISION_FILE).write_text(SHA + "\n")
    loaded = load_model(directory, name="rg-toy", dtype="bfloat16")
    assert loaded.revision == SHA
    assert loaded.name == "rg-toy"
    assert next(loaded.model.parameters()).dtype == torch.bfloat16


def test_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist.*download"):
        load_model(tmp_path / "google/recurrentgemma-2b")


def test_no_config(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_model(tmp_path)


def test_only_bin_weights(tiny_model_dirs: dict[str, Path], tmp_path: Path) -> None:
    directory = shutil.copytree(tiny_model_dirs["jamba"], tmp_path / "bin")
    (directory / "model.safetensors").rename(directory / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match=r"no \*\.safetensors.*pytorch_model.bin"):
        load_model(directory)


def test_unknown_model_type(tiny_model_dirs: dict[str, Path], tmp_path: Path) -> None:
    directory = shutil.copytree(tiny_model_dirs["jamba"], tmp_path / "llama")
    config = json.loads((directory / "config.json").read_text())
    config["model_type"] = "llama"
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnknownArchitectureError, match="llama.*supported: jamba, recurrent_gemma"):
        load_model(directory)


def test_bad_dtype(tiny_model_dirs: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="'fp8'.*float32"):
        load_model(tiny_model_dirs["jamba"], dtype="fp8")


def test_download_requires_commit_sha(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'main'.*40-hex.*locks branches"):
        download_snapshot("google/recurrentgemma-2b", "main", tmp_path)


def test_download_offline_says_how_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(hub.HubUnreachableError, match="not in the local Hugging Face cache.*network access"):
        download_snapshot("google/recurrentgemma-2b", SHA, tmp_path / "rg")
    assert not (tmp_path / "rg").exists()


@pytest.mark.parametrize(
    ("error", "needle"),
    [
        ("gated", "is gated: accept its licence at .*google/recurrentgemma-2b.*set HF_TOKEN"),
        ("unreachable", "cannot be reached .*check the network, HF_ENDPOINT"),
    ],
)
def test_download_hub_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: str, needle: str
) -> None:
    import httpx2 as httpx
    import huggingface_hub
    from huggingface_hub.errors import GatedRepoError

    def refuse(*args: object, **kwargs: object) -> str:
        if error == "gated":
            request = httpx.Request("GET", "https://huggingface.co/google/recurrentgemma-2b")
            raise GatedRepoError("403 gated", response=httpx.Response(403, request=request))
        raise httpx.ConnectError("Name or service not known")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    with pytest.raises(hub.HubError, match=needle) as info:
        download_snapshot("google/recurrentgemma-2b", SHA, tmp_path / "rg")
    assert "\n" not in str(info.value)


def test_download_links_the_cache_and_loads(
    tiny_model_dirs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    calls = []
    cache = tmp_path / "hf-cache" / "snapshots" / SHA

    def fake_snapshot(
        repo_id: str, *, repo_type: str, revision: str, allow_patterns: list[str], endpoint: str
    ) -> str:
        # stands in for the hub: a snapshot in the cache, as snapshot_download(...) returns it
        calls.append((repo_id, repo_type, revision, allow_patterns))
        shutil.copytree(tiny_model_dirs["recurrent_gemma"], cache, dirs_exist_ok=True)
        return str(cache)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    dest = download_snapshot("google/recurrentgemma-2b", "main", tmp_path / "rg", commit=SHA)
    patterns = ["*.json", "*.safetensors", "*.model", "tokenizer*", "*.jinja"]
    assert calls == [("google/recurrentgemma-2b", "model", SHA, patterns)]
    assert (dest / REVISION_FILE).read_text().strip() == SHA
    record = json.loads((dest / "snapshot.json").read_text())
    assert record == {
        "repo_id": "google/recurrentgemma-2b",
        "repo_type": "model",
        "revision": "main",
        "commit": SHA,
        "path": str(cache.resolve()),
    }
    weights = dest / "model.safetensors"
    assert weights.is_symlink() and weights.resolve() == (cache / "model.safetensors").resolve()  # not a copy
    assert load_model(dest).revision == SHA


def test_cuda_without_gpu_fails_at_once_in_one_line(tiny_model_dirs: dict[str, Path]) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(
        loading.DeviceError, match="device 'cuda' is configured but .*set device: cpu"
    ) as info:
        load_model(tiny_model_dirs["jamba"], device="cuda")
    assert "\n" not in str(info.value)
