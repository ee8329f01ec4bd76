"""The essay download through pooch (`fetch_files`), against a local HTTP server: a transient failure is
retried, a file with the wrong sha256 is refused with a clear error, a 404 is not retried; the per-file
hashes of the pinned commit agree with the files and with the one hash over their concatenation."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hybrid_retrieval.errors import DataError
from hybrid_retrieval.tasks.haystack import (
    ESSAY_COMMIT,
    ESSAY_FILE_SHA256,
    ESSAY_FILES,
    ESSAY_SHA256,
    download_haystack,
    fetch_files,
)

FILES = {"a.txt": b"The first essay.\n", "b.txt": b"The second essay.\n"}
SHA = {name: hashlib.sha256(data).hexdigest() for name, data in FILES.items()}


class Server:
    """Serves FILES (and `extra`) under /files/; the first `fail_first[name]` GETs of a name answer 503."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.fail_first: dict[str, int] = {}
        self.extra: dict[str, bytes] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                name = self.path.rsplit("/", 1)[-1]
                server.requests[name] += 1
                body = {**FILES, **server.extra}.get(name)
                if server.requests[name] <= server.fail_first.get(name, 0):
                    self.send_error(503, "busy, try again")
                elif body is None:
                    self.send_error(404, "no such file")
                else:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def server() -> Iterator[Server]:
    served = Server()
    thread = threading.Thread(target=served.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.httpd.shutdown()
        served.httpd.server_close()
        thread.join(timeout=10)


def test_a_transient_failure_is_retried(server: Server, tmp_path: Path) -> None:
    server.fail_first["a.txt"] = 1
    fetch_files(f"{server.url}/files", SHA, tmp_path, retries=2, timeout=10)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == FILES
    assert server.requests == Counter({"a.txt": 2, "b.txt": 1})


def test_a_failure_that_outlasts_the_retries_names_the_file(server: Server, tmp_path: Path) -> None:
    server.fail_first["b.txt"] = 5
    with pytest.raises(DataError, match=r"essay b\.txt .*2 attempt\(s\).*503.*--from-dir"):
        fetch_files(f"{server.url}/files", SHA, tmp_path, retries=1, timeout=10)
    assert server.requests["b.txt"] == 2


def test_a_wrong_hash_is_refused(server: Server, tmp_path: Path) -> None:
    wrong = {**SHA, "a.txt": "0" * 64}
    with pytest.raises(DataError) as error:
        fetch_files(f"{server.url}/files", wrong, tmp_path, retries=1, timeout=10)
    message = str(error.value)
    assert "essay a.txt" in message and "is not the pinned file" in message
    assert f"expected sha256:{'0' * 64} but got {SHA['a.txt']}" in message
    assert not (tmp_path / "a.txt").exists()  # pooch deletes what does not match
    assert server.requests["a.txt"] == 2  # a corrupted transfer may be transient: asked once more


def test_a_missing_file_is_not_retried(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"essay gone\.txt .*refused, not retried.*404"):
        fetch_files(f"{server.url}/files", {"gone.txt": None}, tmp_path, retries=3, timeout=10)
    assert server.requests["gone.txt"] == 1


def test_download_at_the_pinned_commit_checks_each_file(server: Server, tmp_path: Path) -> None:
    # 49 stand-in files in the raw-file layout: at the pinned commit each must match its known sha256
    server.extra = {name: f"not {name}\n".encode() for name in ESSAY_FILES}
    with pytest.raises(DataError, match=r"essay addiction\.txt .*is not the pinned file"):
        download_haystack(tmp_path / "essays", base_url=f"{server.url}/raw", commit=ESSAY_COMMIT, retries=0)
    assert list(tmp_path.iterdir()) == []  # nothing half-downloaded is left
    # at another commit only the hash over the concatenation is known: the same files then install
    concatenated = hashlib.sha256(b"".join(server.extra[name] for name in ESSAY_FILES)).hexdigest()
    dest = download_haystack(
        tmp_path / "essays", base_url=f"{server.url}/raw", commit="abcdef1", sha256=concatenated, retries=0
    )
    assert sorted(p.name for p in dest.iterdir()) == list(ESSAY_FILES)
    assert (dest / "gap.txt").read_bytes() == b"not gap.txt\n"
    assert server.requests["addiction.txt"] == 2 and server.requests["gap.txt"] == 1  # stopped at the first


SHARED_ESSAYS = Path("/work/shared/data/paul_graham_essays")


@pytest.mark.skipif(not SHARED_ESSAYS.is_dir(), reason="the shared essay copy is not on this machine")
def test_per_file_hashes_agree_with_the_files_and_the_concatenation() -> None:
    assert list(ESSAY_FILE_SHA256) == list(ESSAY_FILES)
    data = {name: (SHARED_ESSAYS / name).read_bytes() for name in ESSAY_FILES}
    assert {name: hashlib.sha256(body).hexdigest() for name, body in data.items()} == ESSAY_FILE_SHA256
    assert hashlib.sha256(b"".join(data[name] for name in ESSAY_FILES)).hexdigest() == ESSAY_SHA256
