"""Checked downloads against a real local hub (olah serving stand-in git repos built here, with git-lfs
objects written by hand): only top-level model files and exactly the indexed shards; every file checked
against the hub's size and sha256 / git blob id, a corrupt cached blob fetched again (offline: one line
naming the blob to delete); an HTTP error from the hub named as such; a made-up sha refused by the lock
and the DAG build; another HF_ENDPOINT than the lock's warned about; the CLI download on a run config
pinned through the lock into runs/<run>/."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from conftest import REPO, copy_repo, snakemake
from hybrid_retrieval.infra import hub

pytestmark = pytest.mark.workflow

SHARDED = "org/sharded-standin"
SINGLE = "org/single-standin"
DATASET = "org/dataset-standin"
MADE_UP = "0123456789abcdef0123456789abcdef01234567"
# What a model snapshot of SHARDED must hold besides the tiny model's own configs and tokenizer files.
SHARDED_FILES = {
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
    "model.safetensors.index.json",
    "chat_template.jinja",
    "generation_config.json",
}
# ...and what it must not: subfolder copies, a top-level consolidated copy, a shard the index does not
# list, pickles and code.
SHARDED_DECOYS = {
    "consolidated.safetensors",
    "model-00003-of-00003.safetensors",
    "original/consolidated.safetensors",
    "original/params.json",
    "original/tokenizer.model",
    "onnx/config.json",
    "pytorch_model.bin",
    "modeling_standin.py",
}


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def _lfs(repo: Path, name: str, data: bytes) -> None:
    """A git-lfs pointer in the tree and the object in .git/lfs/objects, as `git lfs` leaves them."""
    oid = hashlib.sha256(data).hexdigest()
    obj = repo / ".git/lfs/objects" / oid[:2] / oid[2:4] / oid
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_bytes(data)
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(data)}\n")


def _new_repo(mirrors: Path, repo_id: str) -> Path:
    repo = mirrors / "models" / repo_id
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    return repo


def _commit(repo: Path) -> str:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "stand-in")
    return _git(repo, "rev-parse", "HEAD")


def _build_sharded(mirrors: Path, model_dir: Path) -> str:
    """The tiny Jamba split into two indexed shards, with every kind of file a snapshot must skip."""
    from safetensors.torch import load_file, save_file

    repo = _new_repo(mirrors, SHARDED)
    for path in model_dir.iterdir():
        if path.suffix != ".safetensors":
            shutil.copy2(path, repo / path.name)
    tensors = load_file(model_dir / "model.safetensors")
    names = sorted(tensors)
    halves = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    weight_map = {}
    scratch = repo.parent / f".{repo.name}.scratch"
    scratch.mkdir()
    for shard, keys in halves.items():
        save_file({k: tensors[k].contiguous() for k in keys}, scratch / shard, metadata={"format": "pt"})
        _lfs(repo, shard, (scratch / shard).read_bytes())
        weight_map.update(dict.fromkeys(keys, shard))
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (repo / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    whole = (model_dir / "model.safetensors").read_bytes()
    _lfs(repo, "consolidated.safetensors", whole)
    _lfs(repo, "original/consolidated.safetensors", whole)
    _lfs(
        repo, "model-00003-of-00003.safetensors", (scratch / "model-00001-of-00002.safetensors").read_bytes()
    )
    shutil.rmtree(scratch)
    (repo / "original/params.json").write_text('{"dim": 8}\n')
    (repo / "original/tokenizer.model").write_bytes(b"not a tokenizer")
    (repo / "onnx").mkdir()
    (repo / "onnx/config.json").write_text("{}\n")
    (repo / "pytorch_model.bin").write_bytes(b"pickle")
    (repo / "modeling_standin.py").write_text("raise SystemExit('remote code ran')\n")
    (repo / "chat_template.jinja").write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}\n")
    (repo / "generation_config.json").write_text('{"do_sample": false}\n')
    return _commit(repo)


def _build_single(mirrors: Path, model_dir: Path) -> str:
    repo = _new_repo(mirrors, SINGLE)
    for path in model_dir.iterdir():
        if path.suffix == ".safetensors":
            _lfs(repo, path.name, path.read_bytes())
        else:
            shutil.copy2(path, repo / path.name)
    return _commit(repo)


def _build_dataset(mirrors: Path) -> str:
    repo = mirrors / "datasets" / DATASET
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    _lfs(repo, "sub/test-00000-of-00001.parquet", b"PAR1" + bytes(range(256)) * 8 + b"PAR1")
    (repo / "README.md").write_text("---\nconfigs:\n- config_name: sub\n---\n")
    (repo / "notes.txt").write_text("not part of the snapshot\n")
    return _commit(repo)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def olah(tmp_path_factory: pytest.TempPathFactory, tiny_model_dirs: dict[str, Path]):
    """(endpoint, {repo_id: head sha}): olah started here and stopped by its PID at the end."""
    root = tmp_path_factory.mktemp("hub-download")
    mirrors = root / "mirrors"
    heads = {
        SHARDED: _build_sharded(mirrors, tiny_model_dirs["jamba"]),
        SINGLE: _build_single(mirrors, tiny_model_dirs["recurrent_gemma"]),
        DATASET: _build_dataset(mirrors),
    }
    port = _free_port()
    script = REPO / "scripts/olah-hub.sh"
    subprocess.run([str(script), "start", str(mirrors), str(root / "olah"), str(port)], check=True)
    try:
        yield f"http://127.0.0.1:{port}", heads
    finally:
        subprocess.run([str(script), "stop", str(root / "olah")], check=True)


@pytest.fixture
def hub_env(olah, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """HF_ENDPOINT at olah, a private HF_HOME (huggingface_hub reads its cache path at import, so it is
    patched too), online."""
    endpoint, heads = olah
    cache = tmp_path / "hf-home" / "hub"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    return endpoint, heads, cache


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """huggingface_hub retries connection errors and 5xx with waits of up to 8 s: not waited for here."""
    import huggingface_hub.utils._http as hf_http

    monkeypatch.setattr(hf_http.time, "sleep", lambda seconds: None)


def _cached_files(cache: Path, repo_id: str) -> set[str]:
    snapshots = cache / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    return {str(p.relative_to(s)) for s in snapshots.iterdir() for p in s.rglob("*") if not p.is_dir()}


def test_only_top_level_files_and_exactly_the_indexed_shards(
    hub_env, tmp_path: Path, tiny_model_dirs: dict[str, Path]
) -> None:
    from hybrid_retrieval.models.loading import load_model

    _, heads, cache = hub_env
    expected = SHARDED_FILES | {
        p.name for p in tiny_model_dirs["jamba"].iterdir() if p.suffix != ".safetensors"
    }
    assert {"config.json", "tokenizer.json"} <= expected
    dest = hub.download_model_snapshot(SHARDED, "main", tmp_path / "m", commit=heads[SHARDED])
    assert {p.name for p in dest.iterdir()} == expected | {"revision.txt", "snapshot.json"}
    assert _cached_files(cache, SHARDED) == expected  # nothing else was even downloaded
    assert hub.download(SHARDED, heads[SHARDED]).is_dir()  # the plain download of a model: the same files
    assert _cached_files(cache, SHARDED) == expected
    assert not {d for d in SHARDED_DECOYS if (dest / d).exists()}
    loaded = load_model(dest)  # the two shards make the whole model
    assert loaded.revision == heads[SHARDED]
    assert loaded.model.config.model_type == "jamba"


def _blob(dest: Path, name: str) -> Path:
    return (dest / name).resolve()


def test_a_corrupt_cached_blob_is_fetched_again_and_offline_named_for_deletion(
    hub_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _, heads, cache = hub_env
    sha = heads[SINGLE]
    dest = hub.download_model_snapshot(SINGLE, "main", tmp_path / "m", commit=sha)
    weights, config = _blob(dest, "model.safetensors"), _blob(dest, "config.json")
    good_weights, good_config = weights.read_bytes(), config.read_bytes()
    assert weights.name == hashlib.sha256(good_weights).hexdigest()  # an LFS blob: named by its sha256

    def corrupt() -> None:
        os.truncate(weights, len(good_weights) // 3)  # truncated LFS file: size and sha256 differ
        flipped = bytearray(good_config)
        flipped[2] ^= 0x01  # same size: only the git blob id tells
        config.write_bytes(bytes(flipped))
        shutil.rmtree(tmp_path / "m", ignore_errors=True)

    corrupt()
    with caplog.at_level("WARNING", logger="hybrid_retrieval.infra.hub"):
        dest = hub.download_model_snapshot(SINGLE, "main", tmp_path / "m", commit=sha)
    assert _blob(dest, "model.safetensors").read_bytes() == good_weights
    assert _blob(dest, "config.json").read_bytes() == good_config
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "model.safetensors" in warned and "config.json" in warned and "fetching it again" in warned

    # offline: the cached snapshot is used when it checks out...
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    shutil.rmtree(tmp_path / "m")
    assert hub.download_model_snapshot(SINGLE, "main", tmp_path / "m", commit=sha).is_dir()
    # ...and a corrupt blob stops with one line naming the blob to delete
    corrupt()
    with pytest.raises(hub.HubError) as info:
        hub.download_model_snapshot(SINGLE, "main", tmp_path / "m", commit=sha)
    message = str(info.value)
    assert "\n" not in message and "corrupt" in message and not (tmp_path / "m").exists()
    assert weights.is_relative_to(cache) and f"delete {config} {weights}" in message
    # following the message (and then the same for the config) and going online again fixes it
    weights.unlink()
    config.unlink()
    monkeypatch.delenv("HF_HUB_OFFLINE")
    dest = hub.download_model_snapshot(SINGLE, "main", tmp_path / "m", commit=sha)
    assert _blob(dest, "model.safetensors").read_bytes() == good_weights


def test_a_dataset_snapshot_is_checked_too(hub_env) -> None:
    _, heads, _ = hub_env
    snapshot = hub.download(DATASET, heads[DATASET], "dataset")
    files = {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if not p.is_dir()}
    assert files == {"README.md", "sub/test-00000-of-00001.parquet"}
    parquet = (snapshot / "sub/test-00000-of-00001.parquet").resolve()
    good = parquet.read_bytes()
    os.truncate(parquet, 10)
    again = hub.download(DATASET, heads[DATASET], "dataset")
    assert (again / "sub/test-00000-of-00001.parquet").read_bytes() == good


def test_an_unreachable_hub_uses_the_checked_cache_and_an_empty_cache_says_unreachable(
    hub_env, no_backoff, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, heads, _ = hub_env
    hub.download_model_snapshot(SINGLE, "main", tmp_path / "m", commit=heads[SINGLE])
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_free_port()}")  # nothing listens there
    dest = hub.download_model_snapshot(SINGLE, "main", tmp_path / "again", commit=heads[SINGLE])
    assert (dest / "revision.txt").read_text().strip() == heads[SINGLE]
    with pytest.raises(hub.HubUnreachableError) as info:
        hub.download_model_snapshot(SHARDED, "main", tmp_path / "s", commit=heads[SHARDED])
    assert "cannot be reached" in str(info.value) and "HTTP" not in str(info.value)


class _Answer503(http.server.BaseHTTPRequestHandler):
    def _refuse(self) -> None:
        self.send_response(503)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "11")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(b"unavailable")

    do_GET = do_HEAD = do_POST = _refuse

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub_503(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer503)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-home/hub"))
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def test_an_http_error_from_the_hub_is_named_as_such(hub_503, no_backoff, tmp_path: Path) -> None:
    with pytest.raises(hub.HubServerError, match=f"the hub answered HTTP 503 for {SINGLE}@{MADE_UP}"):
        hub.download_model_snapshot(SINGLE, "main", tmp_path / "m", commit=MADE_UP)
    with pytest.raises(hub.HubError, match=f"the hub answered HTTP 503 for {SINGLE}@main"):
        hub.resolve_commit(SINGLE, "main")
    # snapshot_download (datasets) wraps the HTTP error in LocalEntryNotFoundError: found in the chain
    with pytest.raises(hub.HubError) as info:
        hub.download("cais/mmlu", MADE_UP, "dataset")
    assert f"the hub answered HTTP 503 for cais/mmlu@{MADE_UP}" in str(info.value)
    assert "cannot be reached" not in str(info.value) and "HF_HUB_OFFLINE" not in str(info.value)


# ------------------------------------------------------------------------- lock, DAG build and the CLI


def _config(repo_id: str, revision: str, run: str = "hubdl") -> dict:
    return {
        "run": run,
        "models": {"m": {"source": "hub", "repo_id": repo_id, "revision": revision, "dtype": "float32"}},
        "haystack": {"kind": "synthetic"},
        "retrieval": {"context_lengths": [300], "depths": [50], "max_new_tokens": 2},
        "experiments": {"mmlu": {"enabled": False}, "glue": {"enabled": False}},
        "report": {"paper_pdf": False},
    }


def _python(repo: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env, "PYTHONPATH": str(repo / "src")},
    )


def test_a_made_up_sha_stops_the_lock_and_the_dag_build(olah, tmp_path: Path) -> None:
    endpoint, heads = olah
    repo = copy_repo(tmp_path / "repo")
    env = {"HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "0"}
    (repo / "config/bad.yaml").write_text(yaml.safe_dump(_config(SINGLE, MADE_UP)))
    made = _python(
        repo, "-m", "hybrid_retrieval.artifact.locking", "--refresh", "config/bad.yaml", env=env
    )  # make lock
    assert made.returncode == 2
    assert (
        f"{SINGLE}@{MADE_UP}" in made.stderr and "set the revision to an existing commit sha" in made.stderr
    )
    assert not (repo / "config/bad.lock.yaml").exists()
    dag = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", "config/bad.yaml"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert dag.returncode != 0 and f"{SINGLE}@{MADE_UP}" in dag.stdout + dag.stderr
    assert not (repo / "runs/hubdl/resources").exists()  # no job ran

    # the real commit passes and is locked, checked once
    (repo / "config/good.yaml").write_text(yaml.safe_dump(_config(SINGLE, heads[SINGLE])))
    good = _python(repo, "-m", "hybrid_retrieval.artifact.locking", "config/good.yaml", env=env)
    assert good.returncode == 0, good.stderr
    lock = yaml.safe_load((repo / "config/good.lock.yaml").read_text())
    assert lock["endpoint"] == endpoint
    assert lock["repos"] == {f"models/{SINGLE}": {"revision": heads[SINGLE], "commit": heads[SINGLE]}}

    # another HF_ENDPOINT than the lock's: one warning naming both (the lock is still used, no hub asked)
    other = f"http://127.0.0.1:{_free_port()}"
    moved = _python(
        repo, "-m", "hybrid_retrieval.artifact.locking", "config/good.yaml", env={**env, "HF_ENDPOINT": other}
    )
    assert moved.returncode == 0, moved.stderr
    lines = [line for line in moved.stderr.splitlines() if "was made against the hub" in line]
    assert len(lines) == 1 and endpoint in lines[0] and other in lines[0]


def test_cli_download_pins_through_the_lock_into_the_run_folder(
    olah, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, heads = olah
    repo = copy_repo(tmp_path / "repo")
    env = {"HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "0"}
    (repo / "config/cli.yaml").write_text(yaml.safe_dump(_config(SINGLE, "main", run="clirun")))
    cli = ["-m", "hybrid_retrieval.cli", "download-model", "--config", "config/cli.yaml", "--model", "m"]
    first = _python(repo, *cli, env=env)
    assert first.returncode == 0, first.stderr
    lock = yaml.safe_load((repo / "config/cli.lock.yaml").read_text())["repos"]
    assert lock == {f"models/{SINGLE}": {"revision": "main", "commit": heads[SINGLE]}}
    model = repo / "runs/clirun/resources/models/m"  # where the workflow's download rule puts it
    assert (model / "revision.txt").read_text().strip() == heads[SINGLE]
    assert json.loads((model / "snapshot.json").read_text())["revision"] == "main"
    assert not (repo / "resources").exists()
    # the workflow sees the CLI's download as its own: nothing to download
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    planned = snakemake(repo, "resources/models/m", "-n", "--configfile", "config/cli.yaml")
    assert "Nothing to be done" in planned.stdout + planned.stderr
    assert "was made against the hub" not in planned.stdout + planned.stderr  # the same endpoint

    # a second CLI download after the model dir is gone: the same locked commit, from the cache
    shutil.rmtree(model)
    again = _python(repo, *cli, env=env)
    assert again.returncode == 0, again.stderr
    assert (model / "revision.txt").read_text().strip() == heads[SINGLE]
