"""Which files a model snapshot takes (top level only, the weights as transformers loads them), how a
cached file is checked without the hub, and how hub errors are named (the exception chain walked). The
same paths against a real local hub: tests/workflow/test_hub_download.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx2 as httpx
import pytest
from huggingface_hub import errors as hf

from hybrid_retrieval.errors import ModelLoadError
from hybrid_retrieval.infra import hub

SHA = "0123456789abcdef0123456789abcdef01234567"
WHAT = f"model org/m@{SHA}"


def _no_index() -> dict:
    raise AssertionError("the index was read although model.safetensors is there")


def test_subfolders_and_code_are_never_taken() -> None:
    names = [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "tokenizer.model",
        "chat_template.jinja",
        "original/params.json",
        "original/consolidated.safetensors",
        "original/tokenizer.model",
        "onnx/config.json",
        "onnx/tokenizer.json",
        "pytorch_model.bin",
        "modeling_x.py",
        "README.md",
    ]
    assert hub.select_model_files(names, _no_index, WHAT) == [
        "chat_template.jinja",
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer.model",
        "tokenizer_config.json",
    ]


def test_sharded_weights_are_exactly_the_indexed_shards() -> None:
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    names = [
        "config.json",
        "model.safetensors.index.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model-00001-of-00003.safetensors",  # a stale shard the index does not list
        "consolidated.safetensors",  # a second copy of the weights
    ]
    assert hub.select_model_files(names, lambda: index, WHAT) == [
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
    ]


def test_a_single_file_wins_over_an_index_and_a_consolidated_copy_is_skipped() -> None:
    names = ["config.json", "model.safetensors", "model.safetensors.index.json", "consolidated.safetensors"]
    assert hub.select_model_files(names, _no_index, WHAT) == [
        "config.json",
        "model.safetensors",
        "model.safetensors.index.json",
    ]


def test_an_index_naming_absent_shards_or_no_weights_at_all_is_refused() -> None:
    names = ["config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors"]
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    with pytest.raises(hub.HubError, match=r"lists shards .*model-00002-of-00002.safetensors"):
        hub.select_model_files(names, lambda: index, WHAT)
    with pytest.raises(ModelLoadError, match=r"no model.safetensors nor .*consolidated.safetensors"):
        hub.select_model_files(
            ["config.json", "consolidated.safetensors", "original/model.safetensors"], _no_index, WHAT
        )


def _blob(tmp_path: Path, data: bytes, name: str) -> Path:
    path = tmp_path / "blobs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    link = tmp_path / "snapshot" / "file"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(path)
    return link


def test_a_cached_file_is_checked_against_its_blob_name_without_the_hub(tmp_path: Path) -> None:
    data = b'{"model_type": "jamba"}\n'
    lfs = _blob(tmp_path, data, hashlib.sha256(data).hexdigest())
    assert hub._file_problem(lfs, None) is None
    lfs.resolve().write_bytes(data[:-1])
    assert "sha256" in hub._file_problem(lfs, None)
    git_sha1 = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    plain = _blob(tmp_path, data, git_sha1)
    assert hub._file_problem(plain, None) is None
    plain.resolve().write_bytes(data.replace(b"j", b"J"))  # same size
    assert "git blob" in hub._file_problem(plain, None)
    # with the hub's listing the size is checked first
    assert "bytes, the hub lists 999" in hub._file_problem(plain, hub.HubFile("file", 999))


def _http_error(status: int) -> hf.HfHubHTTPError:
    request = httpx.Request("GET", "http://hub.test/api/models/org/m")
    return hf.HfHubHTTPError(f"{status} error", response=httpx.Response(status, request=request))


def test_an_http_error_wrapped_by_snapshot_download_is_named_with_its_status() -> None:
    try:
        try:
            raise _http_error(503)
        except hf.HfHubHTTPError as inner:
            raise hf.LocalEntryNotFoundError(
                "An error happened ... check your internet connection"
            ) from inner
    except hf.LocalEntryNotFoundError as wrapped:
        error = hub.explain(wrapped, "org/m", SHA, "model")
    assert isinstance(error, hub.HubServerError)
    assert str(error).startswith(f"the hub answered HTTP 503 for org/m@{SHA}")
    assert "cannot be reached" not in str(error) and "HF_HUB_OFFLINE" not in str(error)
    four = hub.explain(_http_error(429), "org/m", "main", "model")
    assert "the hub answered HTTP 429 for org/m@main" in str(four)
    assert not isinstance(four, hub.HubUnreachableError)


def test_no_answer_at_all_is_unreachable_not_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    try:
        try:
            raise httpx.ConnectError("Connection refused")
        except httpx.ConnectError as inner:
            raise hf.LocalEntryNotFoundError("cannot find the requested files") from inner
    except hf.LocalEntryNotFoundError as wrapped:
        error = hub.explain(wrapped, "org/m", SHA, "model")
    assert type(error) is hub.HubUnreachableError
    assert "cannot be reached" in str(error) and "HTTP" not in str(error)
    assert "\n" not in str(error)


def test_gated_and_unknown_revision_are_found_in_the_chain() -> None:
    request = httpx.Request("GET", "http://hub.test/org/m")
    gated = hf.GatedRepoError("403 gated", response=httpx.Response(403, request=request))
    try:
        try:
            raise gated
        except hf.GatedRepoError as inner:
            raise hf.LocalEntryNotFoundError("wrapped") from inner
    except hf.LocalEntryNotFoundError as wrapped:
        assert "is gated: accept its licence" in str(hub.explain(wrapped, "org/m", SHA, "model"))
    missing = hf.RevisionNotFoundError("404", response=httpx.Response(404, request=request))
    assert "no branch, tag or commit" in str(hub.explain(missing, "org/m", SHA, "model"))


def test_the_index_is_read_only_for_sharded_weights(tmp_path: Path) -> None:
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {"w": "model-1.safetensors"}}))
    chosen = hub.select_model_files(
        ["model.safetensors.index.json", "model-1.safetensors", "config.json"],
        lambda: json.loads(index.read_text()),
        WHAT,
    )
    assert "model-1.safetensors" in chosen
    index.write_text("{not json")
    with pytest.raises(hub.HubError, match="cannot be read"):
        hub.select_model_files(
            ["model.safetensors.index.json", "model-1.safetensors"],
            lambda: json.loads(index.read_text()),
            WHAT,
        )
