"""Hugging Face hub access: resolve a ref to its commit, download a snapshot into the standard cache.

Everything goes through `huggingface_hub` and its cache (`HF_HOME` / `HF_HUB_CACHE`, `HF_ENDPOINT`,
`HF_TOKEN`, `HF_HUB_OFFLINE`, and its fast transfer backend where installed), so a model the user already
holds is not downloaded again. Hub failures become one-line `HubError`s naming the repository and the fix
(licence not accepted, no token, unknown ref, hub unreachable).

This module imports no torch or transformers: the Snakefile resolves revisions with it at parse time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from hybrid_retrieval.errors import HybridRetrievalError
from hybrid_retrieval.io import write_json

RepoType = Literal["model", "dataset"]
SHA_RE = re.compile(r"^[0-9a-f]{40}$")
# Model snapshots: everything from_pretrained needs and nothing that could execute (no *.py, no pickled
# *.bin): configs, safetensors weights, tokenizer files and chat templates (*.jinja, newer repos).
MODEL_PATTERNS = ["*.json", "*.safetensors", "*.model", "tokenizer*", "*.jinja"]
# Dataset snapshots: the hub's parquet layout (<config>/<split>-*.parquet) and the README front matter
# that maps configs to files.
DATASET_PATTERNS = ["*.parquet", "**/*.parquet", "README.md", "*.json"]
SNAPSHOT_RECORD = "snapshot.json"


class HubError(HybridRetrievalError):
    """The hub refused or could not answer; the message says why and what to do (one line)."""


class HubUnreachableError(HubError):
    """No answer from the hub at all (network, offline mode): the ref may well exist."""


def is_commit(revision: str) -> bool:
    return bool(SHA_RE.match(revision or ""))


def endpoint() -> str:
    import huggingface_hub.constants

    return os.environ.get("HF_ENDPOINT") or huggingface_hub.constants.ENDPOINT


def offline() -> bool:
    import huggingface_hub.constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    return flag in {"1", "ON", "YES", "TRUE"} or bool(huggingface_hub.constants.HF_HUB_OFFLINE)


def _url(repo_id: str, repo_type: RepoType) -> str:
    return f"{endpoint()}/{'datasets/' if repo_type == 'dataset' else ''}{repo_id}"


def _status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def explain(error: BaseException, repo_id: str, revision: str, repo_type: RepoType) -> HubError:
    """A one-line HubError for a huggingface_hub exception (the class decides, then the HTTP status)."""
    from huggingface_hub import errors as hf

    url = _url(repo_id, repo_type)
    token = "HF_TOKEN is set" if os.environ.get("HF_TOKEN") else "HF_TOKEN is not set"
    what = f"{repo_type} {repo_id}@{revision}"
    if isinstance(error, hf.GatedRepoError):
        return HubError(
            f"{what} is gated: accept its licence at {url} with your account, then set HF_TOKEN to a "
            f"token of that account ({token})"
        )
    if isinstance(error, hf.RevisionNotFoundError):
        return HubError(
            f"{what}: no branch, tag or commit {revision!r} in {url}; set the revision to an existing "
            "commit sha, branch or tag"
        )
    if isinstance(error, hf.RepositoryNotFoundError) or _status(error) in (401, 403):
        return HubError(
            f"{what}: repository or revision {revision!r} not found or not accessible at {url} ({token}); "
            "check the repo id and the revision, or for a private/gated repo accept its licence and set HF_TOKEN"
        )
    if isinstance(error, hf.OfflineModeIsEnabled | hf.LocalEntryNotFoundError):
        return HubUnreachableError(
            f"{what} is not in the local Hugging Face cache and the hub cannot be asked (HF_HUB_OFFLINE or "
            f"no network to {endpoint()}); run once with network access, or pin a cached commit"
        )
    if isinstance(error, hf.HfHubHTTPError) and _status(error) is not None:
        return HubError(
            f"{what}: the hub at {endpoint()} answered HTTP {_status(error)}: {error}".splitlines()[0]
        )
    return HubUnreachableError(
        f"{what}: the hub at {endpoint()} cannot be reached ({type(error).__name__}: "
        f"{str(error).splitlines()[0] if str(error) else ''}); check the network, HF_ENDPOINT or the proxy"
    )


def resolve_commit(repo_id: str, revision: str, repo_type: RepoType = "model") -> str:
    """The commit sha a branch, tag or sha names on the hub (asks the hub even for a sha: it must exist)."""
    from huggingface_hub import HfApi

    if offline():
        raise HubUnreachableError(
            f"{repo_type} {repo_id}@{revision}: HF_HUB_OFFLINE is set, so the ref cannot be resolved; "
            "pin a commit sha (or use a lock file written while online)"
        )
    try:
        info = HfApi(endpoint=endpoint()).repo_info(
            repo_id, revision=revision, repo_type=repo_type, timeout=30
        )
    except Exception as error:  # huggingface_hub and its HTTP client raise many types
        raise explain(error, repo_id, revision, repo_type) from error
    sha = getattr(info, "sha", None)
    if not sha or not is_commit(sha):
        raise HubError(f"{repo_type} {repo_id}@{revision}: the hub returned no commit sha ({sha!r})")
    return sha


def download(
    repo_id: str, commit: str, repo_type: RepoType = "model", allow_patterns: Sequence[str] | None = None
) -> Path:
    """The snapshot of `repo_id` at `commit` in the standard HF cache (downloaded if missing), its path."""
    from huggingface_hub import snapshot_download

    if not is_commit(commit):
        raise HubError(f"{repo_type} {repo_id}: download needs a 40-hex commit sha, got {commit!r}")
    if allow_patterns is None:
        allow_patterns = MODEL_PATTERNS if repo_type == "model" else DATASET_PATTERNS
    try:
        path = snapshot_download(
            repo_id,
            repo_type=repo_type,
            revision=commit,
            allow_patterns=list(allow_patterns),
            endpoint=endpoint(),
        )
    except Exception as error:
        raise explain(error, repo_id, commit, repo_type) from error
    return Path(path)


def cached_snapshot(repo_id: str, commit: str, repo_type: RepoType = "model") -> Path | None:
    """The cached snapshot folder of `repo_id` at `commit`, or None when it is not in the cache."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, repo_type=repo_type, revision=commit, local_files_only=True))
    except Exception:
        return None


def snapshot_record(
    repo_id: str, revision: str, commit: str, path: str | os.PathLike[str], repo_type: RepoType
) -> dict[str, Any]:
    return {
        "repo_id": repo_id,
        "repo_type": repo_type,
        "revision": revision,
        "commit": commit,
        "path": str(Path(path).resolve()),
    }


def write_snapshot_record(record: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    return write_json(record, out)


def read_snapshot_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A `snapshot.json` written by the download rules; its `path` re-found in the cache if it moved."""
    import json

    from hybrid_retrieval.errors import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"snapshot record {path} does not exist; the download rule writes it")
    record = json.loads(path.read_text(encoding="utf-8"))
    missing = {"repo_id", "commit", "path"} - set(record)
    if missing:
        raise DataError(f"snapshot record {path} lacks {sorted(missing)}; delete it and rerun the download")
    if not Path(record["path"]).is_dir():
        found = cached_snapshot(record["repo_id"], record["commit"], record.get("repo_type", "model"))
        if found is None:
            raise DataError(
                f"{record['repo_id']}@{record['commit']} is no longer at {record['path']} nor in the HF cache "
                f"(HF_HOME); delete {path} and rerun the workflow to download it again"
            )
        record = {**record, "path": str(found)}
    return record


def download_snapshot_to(
    repo_id: str,
    revision: str,
    commit: str,
    out: str | os.PathLike[str],
    repo_type: RepoType = "model",
    allow_patterns: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Download into the cache and write the `snapshot.json` record {repo_id, revision, commit, path}."""
    path = download(repo_id, commit, repo_type, allow_patterns)
    record = snapshot_record(repo_id, revision, commit, path, repo_type)
    write_snapshot_record(record, out)
    return record


# ------------------------------------------------------------------------------------- model snapshots
REVISION_FILE = "revision.txt"  # the commit, read by models.loading.load_model into every result row


def _link_snapshot(snapshot: Path, dest: Path) -> None:
    """`dest` becomes a folder of links to the cached snapshot's files (same relative layout)."""
    for path in sorted(snapshot.rglob("*")):
        if path.is_dir():
            continue
        link = dest / path.relative_to(snapshot)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path.resolve())


def download_model_snapshot(
    repo_id: str, revision: str, dest: str | os.PathLike[str], *, commit: str | None = None
) -> Path:
    """A hub model at one exact commit: downloaded into the standard HF cache (HF_HOME; nothing when it is
    already there), then `dest` made a folder of links to it plus `revision.txt` (the commit) and
    `snapshot.json` {repo_id, revision, commit, path}. `revision` may be a branch/tag when `commit` is given
    (the locked commit); without `commit` it must be the sha itself."""
    import shutil
    import tempfile

    from hybrid_retrieval.errors import ConfigError, ModelLoadError
    from hybrid_retrieval.io import write_text

    dest = Path(dest)
    commit = commit or revision
    if not is_commit(commit):
        raise ConfigError(
            f"revision {revision!r} for {repo_id!r} is not a 40-hex commit sha and no locked commit was given; "
            "pin the exact commit, or run the workflow, which resolves and locks branches (hybrid_retrieval.locking)"
        )
    snapshot = download(repo_id, commit, "model", MODEL_PATTERNS)
    if not any(snapshot.glob("*.safetensors")):
        raise ModelLoadError(
            f"{repo_id}@{commit} has no *.safetensors files; only safetensors are loaded. Pick a "
            "revision that ships safetensors"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        _link_snapshot(snapshot, tmp)
        write_text(commit + "\n", tmp / REVISION_FILE)
        write_snapshot_record(
            snapshot_record(repo_id, revision, commit, snapshot, "model"), tmp / SNAPSHOT_RECORD
        )
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return dest
