"""load_model on hub-snapshot-layout directories, and the error cases (nothing touches the network)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from hybrid_retrieval.errors import ConfigError, ModelLoadError, UnknownArchitectureError
from hybrid_retrieval.infra import hub
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


def _hub_http_error(kind: str) -> Exception:
    import httpx2 as httpx
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

    request = httpx.Request("GET", "https://huggingface.co/api/models/google/recurrentgemma-2b/tree")
    if kind == "gated":
        return GatedRepoError("403 gated", response=httpx.Response(403, request=request))
    if kind == "server-error":
        return HfHubHTTPError("503 unavailable", response=httpx.Response(503, request=request))
    return httpx.ConnectError("Name or service not known")


@pytest.mark.parametrize(
    ("error", "raised", "needle"),
    [
        ("gated", hub.HubError, "is gated: accept its licence at .*google/recurrentgemma-2b.*set HF_TOKEN"),
        ("unreachable", hub.HubUnreachableError, "cannot be reached .*check the network, HF_ENDPOINT"),
        ("server-error", hub.HubServerError, f"the hub answered HTTP 503 for google/recurrentgemma-2b@{SHA}"),
    ],
    ids=["gated", "unreachable", "server-error"],
)
def test_download_hub_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: str, raised: type, needle: str
) -> None:
    """The hub's refusal at the listing (the first thing a download asks) becomes one line naming the repo
    and the fix, before any file is fetched; with nothing cached, an unreachable hub or a 5xx says so."""
    import huggingface_hub.constants

    def refuse(*args: object, **kwargs: object) -> dict:
        raise _hub_http_error(error)

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(hub, "_hub_listing", refuse)
    monkeypatch.setattr(hub, "_fetch", lambda *a: pytest.fail(f"a file was fetched: {a}"))
    with pytest.raises(raised, match=needle) as info:
        download_snapshot("google/recurrentgemma-2b", SHA, tmp_path / "rg")
    assert "\n" not in str(info.value)
    assert (error == "server-error") == ("HTTP 503" in str(info.value))  # a 5xx is not "cannot be reached"
    assert not (tmp_path / "rg").exists()


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_download_fetches_exactly_the_model_files_checks_them_links_the_cache_and_loads(
    tiny_model_dirs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in hub (the listing and the fetch patched; end to end against a local hub:
    tests/workflow/test_hub_download.py): the top-level model files are fetched by exact name, decoys are
    not, each file is checked against the listing's sha256 (LFS) or git blob id, a truncated download is
    fetched again, and the model directory is links into the cache that load at the locked commit."""
    source = tiny_model_dirs["recurrent_gemma"]
    files = {p.name: p.read_bytes() for p in source.iterdir() if p.is_file()}
    assert "model.safetensors" in files and "config.json" in files
    listing = {
        name: hub.HubFile(name, len(data), sha256=hashlib.sha256(data).hexdigest())
        if name.endswith(".safetensors")
        else hub.HubFile(name, len(data), blob_id=_git_blob_id(data))
        for name, data in files.items()
    }
    decoys = {"consolidated.safetensors", "pytorch_model.bin", "modeling_rg.py", "README.md"}
    listing |= {name: hub.HubFile(name, 3, blob_id="0" * 40) for name in decoys}
    repo = tmp_path / "hf-cache" / "models--google--recurrentgemma-2b"
    listed, fetched = [], []

    def hub_listing(repo_id: str, commit: str, repo_type: str, recursive: bool) -> dict:
        listed.append((repo_id, commit, repo_type, recursive))
        return listing

    def fetch(repo_id: str, commit: str, repo_type: str, names: list[str]) -> Path:
        # as snapshot_download fills the HF cache: blobs named by their hash, the snapshot links to them
        # (the first weights download arrives truncated)
        fetched.append(list(names))
        for name in names:
            meta = listing[name]
            data = files[name]
            if name == "model.safetensors" and len(fetched) == 1:
                data = data[: len(data) // 2]
            blob = repo / "blobs" / (meta.sha256 or meta.blob_id)
            blob.parent.mkdir(parents=True, exist_ok=True)
            blob.write_bytes(data)
            link = repo / "snapshots" / commit / name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(blob)
        return repo / "snapshots" / commit

    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "_hub_listing", hub_listing)
    monkeypatch.setattr(hub, "_fetch", fetch)
    dest = download_snapshot("google/recurrentgemma-2b", "main", tmp_path / "rg", commit=SHA)

    assert listed == [("google/recurrentgemma-2b", SHA, "model", False)]  # top level, at the locked commit
    assert fetched == [sorted(files), ["model.safetensors"]]  # exactly the model files; the bad one again
    assert {p.name for p in dest.iterdir()} == set(files) | {REVISION_FILE, "snapshot.json"}
    assert (dest / REVISION_FILE).read_text().strip() == SHA
    snapshot = repo / "snapshots" / SHA
    record = json.loads((dest / "snapshot.json").read_text())
    assert record == {
        "repo_id": "google/recurrentgemma-2b",
        "repo_type": "model",
        "revision": "main",
        "commit": SHA,
        "path": str(snapshot.resolve()),
    }
    weights = dest / "model.safetensors"
    assert weights.is_symlink()  # a link into the cache, not a copy
    assert weights.resolve() == (snapshot / "model.safetensors").resolve()
    assert weights.read_bytes() == files["model.safetensors"]  # the refetched, whole file
    assert load_model(dest).revision == SHA


def test_cuda_without_gpu_fails_at_once_in_one_line(tiny_model_dirs: dict[str, Path]) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(
        loading.DeviceError, match="device 'cuda' is configured but .*set device: cpu"
    ) as info:
        load_model(tiny_model_dirs["jamba"], device="cuda")
    assert "\n" not in str(info.value)
