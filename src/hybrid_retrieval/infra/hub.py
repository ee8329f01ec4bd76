"""Hugging Face hub access: resolve a ref to its commit, download a snapshot into the standard cache.

Everything goes through `huggingface_hub` and its cache (`HF_HOME` / `HF_HUB_CACHE`, `HF_ENDPOINT`,
`HF_TOKEN`, `HF_HUB_OFFLINE`, and its fast transfer backend where installed), so a model the user already
holds is not downloaded again. Every file of a snapshot is checked against the hub's listing at the commit
(size; sha256 for LFS files, the git blob id for the others) before it is used, and a corrupt cached blob
is fetched again; a model snapshot takes only the top-level files transformers loads (`select_model_files`).
Hub failures become one-line `HubError`s naming the repository and the fix (licence not accepted, no
token, unknown ref, "the hub answered HTTP N", the hub cannot be reached).

This module imports no torch or transformers: the Snakefile resolves revisions with it at parse time.

Size (~570 lines): one concern, the hub and its cache, most of it the per-file checks and the one-line
errors a user needs; split further it would scatter the retry and error handling one download shares.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hybrid_retrieval.errors import HybridRetrievalError
from hybrid_retrieval.filenames import REVISION_FILE, SNAPSHOT_FILE
from hybrid_retrieval.io import write_json

log = logging.getLogger(__name__)
RepoType = Literal["model", "dataset"]
SHA_RE = re.compile(r"^[0-9a-f]{40}$")
# Model snapshots: everything from_pretrained needs and nothing that could execute (no *.py, no pickled
# *.bin): configs, safetensors weights, tokenizer files and chat templates (*.jinja, newer repos). Matched
# against the top-level file names only (`select_model_files`): fnmatch's `*` would also match a `/`.
MODEL_PATTERNS = ["*.json", "*.safetensors", "*.model", "tokenizer*", "*.jinja"]
# Dataset snapshots: the hub's parquet layout (<config>/<split>-*.parquet) and the README front matter
# that maps configs to files.
DATASET_PATTERNS = ["*.parquet", "**/*.parquet", "README.md", "*.json"]
SNAPSHOT_RECORD = SNAPSHOT_FILE  # hybrid_retrieval.filenames


class HubError(HybridRetrievalError):
    """The hub refused or could not answer; the message says why and what to do (one line)."""


class HubUnreachableError(HubError):
    """No usable answer from the hub (network, offline mode; `HubServerError`): the ref may well exist."""


class HubServerError(HubUnreachableError):
    """The hub answered with a server error (HTTP 5xx): it is there but cannot serve now; the ref may
    well exist (a dry run goes on, a cached snapshot is used)."""


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


def _chain(error: BaseException) -> list[BaseException]:
    """The error and every error it was raised from or during (`__cause__`, `__context__`), outermost first:
    snapshot_download wraps an HTTP error in LocalEntryNotFoundError, for one."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [error]
    while todo:
        item = todo.pop(0)
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [item.__cause__, item.__context__]
    return seen


def _status(error: BaseException) -> int | None:
    try:
        response = getattr(error, "response", None)
    except Exception:  # an httpx error without a response raises on access
        return None
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def http_status(error: BaseException) -> int | None:
    """The HTTP status the hub answered with, anywhere in the exception chain; None when it never answered."""
    return next((s for e in _chain(error) if (s := _status(e)) is not None), None)


def _first(error: BaseException, kind: type | tuple[type, ...]) -> BaseException | None:
    return next((e for e in _chain(error) if isinstance(e, kind)), None)


def explain(error: BaseException, repo_id: str, revision: str, repo_type: RepoType) -> HubError:
    """A one-line HubError for a huggingface_hub exception: the class decides (anywhere in the chain), then
    the HTTP status (`the hub answered HTTP N`), else the hub was not reached."""
    from huggingface_hub import errors as hf

    url = _url(repo_id, repo_type)
    token = "HF_TOKEN is set" if os.environ.get("HF_TOKEN") else "HF_TOKEN is not set"
    what = f"{repo_type} {repo_id}@{revision}"
    status = http_status(error)
    if _first(error, hf.GatedRepoError):
        return HubError(
            f"{what} is gated: accept its licence at {url} with your account, then set HF_TOKEN to a "
            f"token of that account ({token})"
        )
    if _first(error, hf.RevisionNotFoundError):
        return HubError(
            f"{what}: no branch, tag or commit {revision!r} in {url}; set the revision to an existing "
            "commit sha, branch or tag"
        )
    if _first(error, hf.RepositoryNotFoundError) or status in (401, 403):
        return HubError(
            f"{what}: repository or revision {revision!r} not found or not accessible at {url} ({token}); "
            "check the repo id and the revision, or for a private/gated repo accept its licence and set HF_TOKEN"
        )
    if status is not None:
        cls = HubServerError if status >= 500 else HubError
        fix = (
            "the hub failed or is overloaded: retry later, or check HF_ENDPOINT"
            if status >= 500
            else "check the repo id, the revision and HF_ENDPOINT"
        )
        return cls(
            f"the hub answered HTTP {status} for {repo_id}@{revision} ({repo_type}, {endpoint()}); {fix}"
        )
    if _first(error, hf.OfflineModeIsEnabled) or (offline() and _first(error, hf.LocalEntryNotFoundError)):
        return HubUnreachableError(
            f"{what} is not in the local Hugging Face cache and the hub cannot be asked (HF_HUB_OFFLINE is "
            f"set); run once with network access to {endpoint()}, or pin a cached commit"
        )
    if isinstance(error, hf.LocalEntryNotFoundError):
        return HubUnreachableError(
            f"{what} is not in the local Hugging Face cache and the hub cannot be reached (no network to "
            f"{endpoint()}); run once with network access, or pin a cached commit"
        )
    cause = next((e for e in reversed(_chain(error)) if str(e)), error)
    return HubUnreachableError(
        f"{what}: the hub at {endpoint()} cannot be reached ({type(cause).__name__}: "
        f"{str(cause).splitlines()[0] if str(cause) else ''}); check the network, HF_ENDPOINT or the proxy"
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
    """The snapshot of `repo_id` at `commit` in the standard HF cache (downloaded if missing), its path:
    the files matching `allow_patterns` (huggingface_hub's fnmatch: `*` crosses `/`; default: a model's
    `select_model_files`, a dataset's DATASET_PATTERNS), each checked against the hub's metadata
    (`fetch_checked`). A model directory for loading: `download_model_snapshot`."""
    from huggingface_hub.utils import filter_repo_objects

    if not is_commit(commit):
        raise HubError(f"{repo_type} {repo_id}: download needs a 40-hex commit sha, got {commit!r}")
    if allow_patterns is None and repo_type == "model":
        return fetch_model_files(repo_id, commit)[0]  # top-level files only, the weights transformers loads
    patterns = list(allow_patterns or DATASET_PATTERNS)

    def select(listing: dict[str, HubFile], fetch_one: Callable[[str], Path]) -> list[str]:
        return sorted(filter_repo_objects(items=list(listing), allow_patterns=patterns))

    snapshot, _ = fetch_checked(repo_id, commit, repo_type, select, recursive=True)
    return snapshot


def cached_snapshot(repo_id: str, commit: str, repo_type: RepoType = "model") -> Path | None:
    """The cached snapshot folder of `repo_id` at `commit`, or None when it is not in the cache. (Not
    snapshot_download(local_files_only=True): it calls a snapshot incomplete that holds only the files our
    allow patterns chose.)"""
    folder = snapshot_folder(repo_id, commit, repo_type)
    return folder if folder.is_dir() else None


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
# REVISION_FILE (hybrid_retrieval.filenames): the commit, read by models.loading.load_model into every result row
WEIGHTS = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class HubFile:
    """One file of a repository at a commit, as the hub lists it (`HfApi.list_repo_tree`)."""

    path: str
    size: int | None  # None: unknown (a cached snapshot without the hub's tree listing)
    sha256: str | None = None  # LFS files: the sha256 of the content
    blob_id: str | None = None  # non-LFS files: the git blob sha1 of the content


def select_model_files(names: Iterable[str], read_index: Callable[[], Any], what: str) -> list[str]:
    """The files of a model snapshot to fetch: top-level files only that match MODEL_PATTERNS (`*` never
    crosses a `/`: no original/, onnx/ copies), and the weights as transformers loads them:
    model.safetensors, else exactly the shards model.safetensors.index.json lists; no other *.safetensors
    (a top-level consolidated.safetensors is a second copy of the weights)."""
    from hybrid_retrieval.errors import ModelLoadError

    top = sorted({n for n in names if "/" not in n})
    wanted = [
        n
        for n in top
        if not n.endswith(".safetensors") and any(fnmatch.fnmatchcase(n, p) for p in MODEL_PATTERNS)
    ]
    if WEIGHTS in top:
        weights = [WEIGHTS]
    elif WEIGHTS_INDEX in top:
        try:
            weight_map = read_index().get("weight_map")
        except (OSError, ValueError, AttributeError) as error:
            raise HubError(
                f"{what}: {WEIGHTS_INDEX} cannot be read ({error}); delete it from the cache and rerun"
            ) from error
        if not isinstance(weight_map, dict) or not weight_map:
            raise HubError(
                f"{what}: {WEIGHTS_INDEX} has no weight_map; this revision cannot be loaded, pick another"
            )
        weights = sorted({str(v) for v in weight_map.values()})
        absent = [w for w in weights if w not in top]
        if absent:
            raise HubError(
                f"{what}: {WEIGHTS_INDEX} lists shards the repository does not hold at the top level: "
                f"{absent[:3]}; this revision cannot be loaded, pick another"
            )
    else:
        found = [n for n in top if n.endswith(".safetensors")]
        raise ModelLoadError(
            f"{what} has no {WEIGHTS} nor {WEIGHTS_INDEX} at the top level (top-level *.safetensors: {found[:5]}); "
            "only safetensors weights that transformers loads are used. Pick a revision that ships them"
        )
    return sorted(wanted + weights)


def _hub_listing(repo_id: str, commit: str, repo_type: RepoType, recursive: bool) -> dict[str, HubFile]:
    """The files of `repo_id` at `commit` (top level only unless `recursive`) with the hub's size and
    sha256 (LFS) or git blob id."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile

    entries = HfApi(endpoint=endpoint()).list_repo_tree(
        repo_id, revision=commit, repo_type=repo_type, recursive=recursive
    )
    return {
        f.path: HubFile(f.path, f.size, f.lfs.sha256 if f.lfs else None, None if f.lfs else f.blob_id)
        for f in entries
        if isinstance(f, RepoFile)
    }


def snapshot_folder(repo_id: str, commit: str, repo_type: RepoType = "model") -> Path:
    """HF_HUB_CACHE/<models--org--repo>/snapshots/<commit> (which may not exist)."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    return (
        Path(constants.HF_HUB_CACHE)
        / repo_folder_name(repo_id=repo_id, repo_type=repo_type)
        / "snapshots"
        / commit
    )


def _cached_listing(repo_id: str, commit: str, repo_type: RepoType, snapshot: Path) -> dict[str, HubFile]:
    """The hub's tree listing as huggingface_hub cached it with the snapshot (sizes), else the folder's files."""
    from huggingface_hub import get_cached_repo_tree

    try:
        files = get_cached_repo_tree(repo_id, repo_type=repo_type, revision=commit)
        return {f.path: HubFile(f.path, f.size) for f in files}
    except Exception:  # no cached listing (older huggingface_hub, or another tool filled the cache)
        return {
            p.relative_to(snapshot).as_posix(): HubFile(p.relative_to(snapshot).as_posix(), None)
            for p in snapshot.rglob("*")
            if not p.is_dir()
        }


def _digest(path: Path, algorithm: str, prefix: bytes = b"") -> str:
    digest = hashlib.new(algorithm, prefix)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_problem(path: Path, meta: HubFile | None) -> str | None:
    """Why the cached file does not match the hub's metadata (None: it matches). Without metadata (an
    offline cache) the blob's own name is checked: the cache names each blob by its sha256 (LFS) or git sha1."""
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if meta is not None and meta.size is not None and size != meta.size:
        return f"{size} bytes, the hub lists {meta.size}"
    blob = path.resolve().name
    sha256 = (meta.sha256 if meta else None) or (blob if _SHA256_RE.match(blob) else None)
    if sha256:
        actual = _digest(path, "sha256")
        return None if actual == sha256 else f"sha256 {actual[:12]}..., the hub lists {sha256[:12]}..."
    git_sha1 = (meta.blob_id if meta else None) or (blob if SHA_RE.match(blob) else None)
    if git_sha1:
        actual = _digest(path, "sha1", b"blob %d\0" % size)
        return None if actual == git_sha1 else f"git blob {actual[:12]}..., the hub lists {git_sha1[:12]}..."
    return None


def _problems(snapshot: Path, names: list[str], listing: dict[str, HubFile]) -> list[tuple[str, Path, str]]:
    """[(name, cache blob, why)] for each file that does not match the hub's metadata."""
    found = []
    for name in names:
        why = _file_problem(snapshot / name, listing.get(name))
        if why is not None:
            found.append((name, (snapshot / name).resolve(), why))
    return found


def _fetch(repo_id: str, commit: str, repo_type: RepoType, names: list[str]) -> Path:
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(
            repo_id,
            repo_type=repo_type,
            revision=commit,
            allow_patterns=[glob.escape(n) for n in names],
            endpoint=endpoint(),
        )
    except Exception as error:
        raise explain(error, repo_id, commit, repo_type) from error
    return Path(path)


# select(listing, path_of) -> the names to fetch; path_of(name) gives a file's local path (fetching it)
Select = Callable[[dict[str, HubFile], Callable[[str], Path]], list[str]]


def _from_cache(
    repo_id: str, commit: str, repo_type: RepoType, select: Select, unreachable: HubError
) -> tuple[Path, list[str]]:
    """The hub cannot be asked: the cached snapshot, checked against the cached listing and blob names."""
    what = f"{repo_type} {repo_id}@{commit}"
    snapshot = snapshot_folder(repo_id, commit, repo_type)
    if not snapshot.is_dir():
        raise unreachable
    listing = _cached_listing(repo_id, commit, repo_type, snapshot)
    names = select(listing, lambda name: snapshot / name)
    absent = [n for n in names if not (snapshot / n).is_file()]
    if absent:
        raise HubUnreachableError(
            f"{what}: the cached snapshot {snapshot} lacks {absent[:3]} and the hub cannot be asked "
            f"({unreachable}); rerun with network access"
        )
    bad = _problems(snapshot, names, listing)
    if bad:
        raise HubError(
            f"{what}: the cached "
            + ", ".join(f"{name} ({why})" for name, _, why in bad)
            + f" {'is' if len(bad) == 1 else 'are'} corrupt and the hub cannot be asked for "
            + f"{'it' if len(bad) == 1 else 'them'} again; delete "
            + " ".join(str(blob) for _, blob, _ in bad)
            + " and rerun with network access"
        )
    log.warning("%s: the hub cannot be asked; using the cached snapshot %s (checked)", what, snapshot)
    return snapshot, names


def fetch_checked(
    repo_id: str, commit: str, repo_type: RepoType, select: Select, *, recursive: bool
) -> tuple[Path, list[str]]:
    """(the cached snapshot folder, the names of the files fetched): the files `select` chooses from the
    hub's listing at `commit`, downloaded into the HF cache and each checked against the hub's size and
    sha256 (LFS) or git blob id. A corrupt cached blob is deleted and fetched again. Without the hub
    (offline, unreachable, HTTP 5xx) the cached snapshot is checked against its cached listing and blob
    names, and a corrupt blob stops with one line naming the path to delete."""
    from hybrid_retrieval.errors import HybridRetrievalError

    what = f"{repo_type} {repo_id}@{commit}"
    try:
        if offline():
            raise HubUnreachableError(
                f"{what} is not in the local Hugging Face cache and the hub cannot be asked (HF_HUB_OFFLINE "
                f"is set); run once with network access to {endpoint()}, or pin a cached commit"
            )
        listing = _hub_listing(repo_id, commit, repo_type, recursive)
    except HubUnreachableError as error:
        return _from_cache(repo_id, commit, repo_type, select, error)
    except HybridRetrievalError:
        raise
    except Exception as error:  # huggingface_hub and its HTTP client raise many types
        problem = explain(error, repo_id, commit, repo_type)
        if isinstance(problem, HubUnreachableError):
            return _from_cache(repo_id, commit, repo_type, select, problem)
        raise problem from error

    names = select(listing, lambda name: _fetch(repo_id, commit, repo_type, [name]) / name)
    snapshot = _fetch(repo_id, commit, repo_type, names)
    total = sum(listing[n].size or 0 for n in names)
    log.info(
        "%s: checking %d files (%.1f MB) against the hub's sizes and hashes", what, len(names), total / 1e6
    )
    bad = _problems(snapshot, names, listing)
    if bad:
        for name, blob, why in bad:
            log.warning("%s: the cached %s (%s) is corrupt (%s); fetching it again", what, name, blob, why)
            (snapshot / name).unlink(missing_ok=True)
            blob.unlink(missing_ok=True)
        again = [name for name, _, _ in bad]
        snapshot = _fetch(repo_id, commit, repo_type, again)
        still = _problems(snapshot, again, listing)
        if still:
            name, blob, why = still[0]
            raise HubError(
                f"{what}: the hub at {endpoint()} served {name} that does not match its own listing ({why}); "
                f"retry later, or check HF_ENDPOINT (the file is at {blob})"
            )
    return snapshot, names


def fetch_model_files(repo_id: str, commit: str) -> tuple[Path, list[str]]:
    """(the cached snapshot folder, the names of its files to use): the model's top-level files at
    `commit` (`select_model_files`), fetched and checked (`fetch_checked`)."""
    what = f"model {repo_id}@{commit}"

    def select(listing: dict[str, HubFile], path_of: Callable[[str], Path]) -> list[str]:
        return select_model_files(
            listing, lambda: json.loads(path_of(WEIGHTS_INDEX).read_text(encoding="utf-8")), what
        )

    return fetch_checked(repo_id, commit, "model", select, recursive=False)


def _link_files(snapshot: Path, names: list[str], dest: Path) -> None:
    """`dest` becomes a folder of links to the named files of the cached snapshot."""
    for name in names:
        link = dest / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to((snapshot / name).resolve())


def download_model_snapshot(
    repo_id: str, revision: str, dest: str | os.PathLike[str], *, commit: str | None = None
) -> Path:
    """A hub model at one exact commit: its top-level model files downloaded into the standard HF cache
    (HF_HOME; nothing when they are already there) and checked against the hub's metadata
    (`fetch_model_files`), then `dest` made a folder of links to them plus `revision.txt` (the commit) and
    `snapshot.json` {repo_id, revision, commit, path}. `revision` may be a branch/tag when `commit` is
    given (the locked commit); without `commit` it must be the sha itself."""
    import shutil
    import tempfile

    from hybrid_retrieval.errors import ConfigError
    from hybrid_retrieval.io import write_text

    dest = Path(dest)
    commit = commit or revision
    if not is_commit(commit):
        raise ConfigError(
            f"revision {revision!r} for {repo_id!r} is not a 40-hex commit sha and no locked commit was given; "
            "pin the exact commit, or run the workflow, which resolves and locks branches (hybrid_retrieval.artifact.locking)"
        )
    snapshot, names = fetch_model_files(repo_id, commit)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        _link_files(snapshot, names, tmp)
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
