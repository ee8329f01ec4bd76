"""Haystacks and needles for the needle test: where the filler text and the hidden sentence come from.

Two haystacks:
- `EssayHaystack`: the Paul Graham essays of the classic needle test (gkamradt/LLMTest_NeedleInAHaystack,
  folder `needlehaystack/PaulGrahamEssays`). The authors glob `PaulGrahamEssays/*.txt` (file-system order)
  and concatenate the files, repeating them until the text is long enough. By default (`essays: authors`)
  we use their 47 essays in their order, pinned as data in `tasks/data/authors_essay_order.json` with its
  provenance (useful.txt, newideas.txt, ... as their stored prompts show); `essays: sorted49`, our former
  reading, takes all 49 files of the pinned commit in sorted file-name order.
- `SyntheticHaystack`: filler from the toy models' synthetic language (one seeded text per replicate).

Two needle sources: `FixedNeedle` (the paper's sentence and question, for every trial) and
`SyntheticNeedles` (a fresh needle per trial, drawn from the synthetic language with the trial's rng).

`download_haystack` fetches the 49 essays at a pinned commit with pooch (each file against its known
sha256, transient failures retried), checks one sha256 over their concatenation and only then moves the
folder into place, so a half-downloaded haystack never exists.

Size (~420 lines): the two haystacks, the two needle sources and the pinned essay download that
only they use.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from hybrid_retrieval.errors import ConfigError, DataError

# ------------------------------------------------------------------------------------------ pinned data

ESSAY_REPO = "gkamradt/LLMTest_NeedleInAHaystack"
# Commit 7b90d28 of the authors' haystack source; the full id, so the raw-file URL is pinned to exactly one tree.
ESSAY_COMMIT = "7b90d285651b68d39a94f3d3bd3672f84192c989"
ESSAY_BASE_URL = f"https://raw.githubusercontent.com/{ESSAY_REPO}"
ESSAY_FOLDER = "needlehaystack/PaulGrahamEssays"
# sha256 of the 49 files concatenated in ESSAY_FILES order (computed from the files at ESSAY_COMMIT).
ESSAY_SHA256 = "b3a70ebc054f2eab5057baf3c4b7e857711472be8086240a516fd29b648ad857"
# The folder's files at ESSAY_COMMIT, sorted: the concatenation order of the haystack.
ESSAY_FILES: tuple[str, ...] = (
    "addiction.txt", "aord.txt", "apple.txt", "avg.txt", "before.txt", "bias.txt", "boss.txt",
    "copy.txt", "corpdev.txt", "desres.txt", "diff.txt", "ecw.txt", "founders.txt", "foundervisa.txt",
    "gap.txt", "gba.txt", "gh.txt", "goodtaste.txt", "hubs.txt", "iflisp.txt", "island.txt", "know.txt",
    "langdes.txt", "laundry.txt", "love.txt", "mod.txt", "newideas.txt", "nft.txt", "philosophy.txt",
    "popular.txt", "pow.txt", "rootsoflisp.txt", "rss.txt", "siliconvalley.txt", "startuplessons.txt",
    "submarine.txt", "sun.txt", "superangels.txt", "todo.txt", "unions.txt", "useful.txt", "vb.txt",
    "vcsqueeze.txt", "vw.txt", "want.txt", "web20.txt", "weird.txt", "wisdom.txt", "worked.txt",
)  # fmt: skip
# Each file's sha256 at ESSAY_COMMIT (their concatenation hashes to ESSAY_SHA256; tests/unit checks both).
ESSAY_FILE_SHA256: dict[str, str] = {
    "addiction.txt": "32b4b8f14a126a14bb7da5a25fb134601510344d9bd3456bd509c2c14609e102",
    "aord.txt": "ca1a95525193b977ca9e5b4d2523ed6f33ce10272b00fb2e83dfc4df742d7195",
    "apple.txt": "e84fd53a3792f196fd07614ee28d721af98e7425b3b092ab7f02b90fa61e5e84",
    "avg.txt": "0111c10328933b0e90d7a696cb07fa1c89aaf9c773706b28d687a2489384692b",
    "before.txt": "db4bd3fd62ba3c98eeb8822d048ac664742709d4cd6d4dc0c2f9da4af0a9a1f5",
    "bias.txt": "363e55ef481571ab75173229d237491f203d4e7a4f04837bf88bb6bd6cc51e91",
    "boss.txt": "a0b98955ffb64162048538fcc7372c5f51c06e5a11fe1b15826ae737a3d2cd44",
    "copy.txt": "15259f67aa300ccec434b955b1ea100fa23b8d16733adf140da0332c20d63125",
    "corpdev.txt": "c966a343377308ccc11b5bd7f0967f226b89a6f9708d96c709f50913890ca8b2",
    "desres.txt": "3982864276f95b1a606d76f187ce2c0450a3810b9858fd33a61af1489e1a00ae",
    "diff.txt": "281adb331d84feafaf9954aa9f38188a6e30856c19cbcf745eca43c70759952f",
    "ecw.txt": "754e542a397e82bc23b488c3600b5bdb7d285aaf774c6fbfb0e5302ca89dd1df",
    "founders.txt": "b49b61dba29889880d66fb00b52c1c37a9373ba473a61e95a0701eca80beb247",
    "foundervisa.txt": "331d5492353c6207efec65c949fe6c813909fb58f85aa606ba393d021af04d27",
    "gap.txt": "fd753f0535797ac3dff137766ed2a71adc71179bb5cfe4521822b85d8e84e7c5",
    "gba.txt": "aede19c44c7f337eed5e72d28b8a1ff040510662621ff3fbd1301d51e126a9da",
    "gh.txt": "ea1aa69c11b29b298ae5068e3b13bb6a6706c0e2276820f77ee60c2b080ee62c",
    "goodtaste.txt": "5383bdc4bf4ba34d831a700defdfa553c418157b4b75e217f4557e105c79e5b9",
    "hubs.txt": "decb683073e140ef5e0463a93d7d35d74df8518afe61dd10a0a330cb4ba2bcfd",
    "iflisp.txt": "2cc2432a3b4e76bd2c6d643e3c224e73991cc15efed7a7da16baf20898f29f80",
    "island.txt": "ec72fccf5757b92e4d924a734c6be7efed4cbf4c0ea53ca927b9e9a91de0995e",
    "know.txt": "2e1c8e32d5d1157eae192332c88ac7495a858ce2a141be17b0585c22223187d0",
    "langdes.txt": "0fa1ced068a09646c857d91ce8d4685fcedec09ad6ef12b54c6e3013a98d3461",
    "laundry.txt": "546c9f99d47fd89bce653993fa2b476a6e90a76d1d049008ffda438bc7820b87",
    "love.txt": "ec4cde975ab273f5641fae71edefed10761876cafb572fb95a28420e121edc0c",
    "mod.txt": "016034d82e0664036df32ebbcf30566ab6a8a41a13d4e89d8952eebbc36bc81b",
    "newideas.txt": "e680d93042bf45fef78c10924e74a9749e5f25672350dace89e2b52b5d63d131",
    "nft.txt": "9b260edeccefe0c29641f8ff5ef429a56177c1bed20a7cdfc7dd9f3e716c4649",
    "philosophy.txt": "7e0e7ec9443730b0b79aad2ef14d74470a310d8df439d73a82e99ba693f4e091",
    "popular.txt": "ba81fc48f3a6973f44019565f73d8ecf08f9abde99f0ffd10452fd9cb492726b",
    "pow.txt": "9544b749d124306337b10b460f53fb7005861f662cbfda719fc886e0d2796166",
    "rootsoflisp.txt": "9d743d2cd576905006a06c4f0e48f0d32196dc63018d09772384ce900651f69b",
    "rss.txt": "0c9f488b4334ef61adff51a19308e7da71cfab192ab3df751e3ad3f64b948411",
    "siliconvalley.txt": "38aff7ae38a2641fda8af17253d499d88b38a6fafe4354a84382030509b3f717",
    "startuplessons.txt": "1c3a8333c9e811a2a5e767fcb727ac95636c2e2f9c46cfb9382e89c61334fbb7",
    "submarine.txt": "d2fb6c30bd79b72f1175a371a93111d28e72031c45d5f4c93ae266bc230cb70a",
    "sun.txt": "d385ec133053cb65122433d2cff33fe432b2b1de3a1b7fee98b86bb95b21a1a9",
    "superangels.txt": "e22283992fb67f0b58902edb75fb29589d3f784fd34a558e754b9d2e5352f33d",
    "todo.txt": "49279cde1dc748aa77aed6695d961be110030c4058dc582fa6a633ce64a7d79b",
    "unions.txt": "072bce8c460b4f91af5650a00d0a928a5d70868e7164f1158afdc4336b7b82f5",
    "useful.txt": "27ec97ef3c99d6be7f0529611d9a88fd5ee1917e34eddac9e4024400d26df5ba",
    "vb.txt": "58abf15e074b35662f0e09da0020c65b3a09f27a44c0c2508d24eca53a71ac3b",
    "vcsqueeze.txt": "70bd68bd1c44cd07f190d12e7f09e327901e80b11bac447500d767d37d0e1bd3",
    "vw.txt": "0e3ce943e9967dbde5c6b757fd6c65fc17eac4f8c20e0838e71fd45824757c9e",
    "want.txt": "43b5f460f3321b9c736c33d7b4129c80c9d373ee5c272cf975434d28a3cf4635",
    "web20.txt": "d8078da5dda03538605661f5b07412744b8b432810cbd580b5896ba7c3d9c68b",
    "weird.txt": "5563700b07211d823bc904bc78f39830941f41b3cfc7882d67b86d0544746efd",
    "wisdom.txt": "cdc71c4962e5bc3d1f38f120e5df9837eb1100fef63b23d06ff115896e577ba0",
    "worked.txt": "7a9a464c75d8b515aa9ee3921a1e28f53a2d1c227f111cb67007ebf0a008bfa3",
}

ESSAY_SETS: tuple[str, ...] = ("authors", "sorted49")  # authors' first


def authors_essay_order() -> dict:
    """The pinned authors' essay order and its provenance (package data)."""
    import json
    from importlib import resources

    text = resources.files("hybrid_retrieval.tasks").joinpath("data/authors_essay_order.json").read_text("utf-8")
    return json.loads(text)


def essay_files(essays: str = "authors") -> tuple[str, ...]:
    """The essay files of a set, in concatenation order."""
    if essays == "authors":
        return tuple(authors_essay_order()["files"])
    if essays == "sorted49":
        return ESSAY_FILES
    raise ConfigError(f"unknown essay set {essays!r}; choose one of {', '.join(ESSAY_SETS)}")


PAPER_NEEDLE = (
    "The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day."
)
PAPER_QUESTION = "What is the best thing to do in San Francisco?"


# -------------------------------------------------------------------------------------------- sources

# Tokens beyond the request: a token can merge across a file seam, so stop a little past the cut.
_SEAM_MARGIN = 64


class HaystackSource(Protocol):
    """Filler text; `text(replicate, n_tokens, count)` returns at least `n_tokens` tokens if it can."""

    haystack_id: str

    def text(self, replicate: int, n_tokens: int, count_tokens: CountTokens) -> str: ...


class CountTokens(Protocol):
    def __call__(self, text: str) -> int: ...


@dataclass(frozen=True)
class NeedleSpec:
    sentence: str  # the expected answer
    question: str


class NeedleSource(Protocol):
    needle_id: str

    def needle(self, rng: random.Random) -> NeedleSpec: ...


def _sha256_of(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class EssayHaystack:
    """The essays of `essays` (a set of ESSAY_SETS) from `directory`, concatenated in that set's order
    and repeated to any length."""

    directory: Path
    essays: str = "authors"
    _essays: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)

    @property
    def haystack_id(self) -> str:
        # The former sorted-49 haystack keeps its former id, so its trial ids do not move.
        return "paul-graham" if self.essays == "sorted49" else f"paul-graham-{self.essays}"

    def __post_init__(self) -> None:
        directory = Path(self.directory)
        names = essay_files(self.essays)
        if not directory.is_dir() or not any(directory.glob("*.txt")):
            raise DataError(
                f"no essay files (*.txt) in {directory}; run `hybrid-retrieval download-haystack` "
                f"or point the haystack directory at a copy of {ESSAY_REPO}/{ESSAY_FOLDER}"
            )
        missing = [name for name in names if not (directory / name).is_file()]
        if missing:
            raise DataError(
                f"essay set {self.essays!r} needs {', '.join(missing)}, missing in {directory}; download the "
                f"essays again (`hybrid-retrieval download-haystack`)"
            )
        essays = tuple((directory / name).read_text(encoding="utf-8") for name in names)
        if not "".join(essays).strip():
            raise DataError(f"the essays in {directory} are empty; download them again")
        object.__setattr__(self, "_essays", essays)

    def text(self, replicate: int, n_tokens: int, count_tokens: CountTokens) -> str:
        """Whole essays in order (the corpus repeated, as the original tester does) until the text holds
        `n_tokens` plus a margin; the replicate does not matter, the essays are one fixed text. Callers
        cut by tokens from the start, so a longer request only appends: every cell sees the same prefix."""
        pieces, total = [], 0
        while total < n_tokens + _SEAM_MARGIN:
            for essay in self._essays:
                pieces.append(essay)
                total += count_tokens(essay)  # per file: tokenizing the growing text would be quadratic
                if total >= n_tokens + _SEAM_MARGIN:
                    break
        return "".join(pieces)


@dataclass
class SyntheticHaystack:
    """Filler from `SyntheticLanguage(language_seed)`: one text per replicate, shared by all cells."""

    language_seed: int = 0
    seed: int = 0
    _cache: dict[int, str] = field(default_factory=dict, repr=False)

    @property
    def haystack_id(self) -> str:
        return f"synthetic-{self.language_seed}-{self.seed}"

    def text(self, replicate: int, n_tokens: int, count_tokens: CountTokens) -> str:
        from hybrid_retrieval.tasks.synthetic import SyntheticLanguage

        cached = self._cache.get(replicate, "")
        if cached and count_tokens(cached) >= n_tokens:
            return cached  # the longest text so far serves every shorter cell of this replicate
        language = SyntheticLanguage(self.language_seed)
        # Synthetic words are one token each; the margin covers tokenizers that split differently.
        rng = random.Random(f"haystack-{self.language_seed}-{self.seed}-{replicate}")
        text = language.haystack(rng, int(n_tokens * 1.1) + 32)
        self._cache[replicate] = text
        return text


@dataclass(frozen=True)
class FixedNeedle:
    """The paper's needle and question (or any fixed pair) for every trial."""

    sentence: str = PAPER_NEEDLE
    question: str = PAPER_QUESTION
    needle_id: str = "paper"

    def needle(self, rng: random.Random) -> NeedleSpec:
        return NeedleSpec(self.sentence, self.question)


@dataclass(frozen=True)
class SyntheticNeedles:
    """A fresh synthetic needle per trial (drawn with the trial's rng, so it is reproducible)."""

    language_seed: int = 0

    @property
    def needle_id(self) -> str:
        return f"synthetic-{self.language_seed}"

    def needle(self, rng: random.Random) -> NeedleSpec:
        from hybrid_retrieval.tasks.synthetic import SyntheticLanguage

        drawn = SyntheticLanguage(self.language_seed).needle(rng)
        return NeedleSpec(drawn.sentence, drawn.question)


# ------------------------------------------------------------------------------------------- download


def _install(tmp: Path, dest: Path) -> Path:
    """Swap the verified temp folder into place (the old folder, if any, is removed only afterwards)."""
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
    os.replace(tmp, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return dest


def _verify(folder: Path, sha256: str, source: str) -> None:
    missing = [name for name in ESSAY_FILES if not (folder / name).is_file()]
    if missing:
        raise DataError(
            f"{source} lacks essay file(s) {', '.join(missing)}; use a complete copy of {ESSAY_FOLDER}"
        )
    actual = _sha256_of([folder / name for name in ESSAY_FILES])
    if actual != sha256:
        raise DataError(
            f"the essays from {source} have sha256 {actual}, expected {sha256} (commit {ESSAY_COMMIT[:7]} of "
            f"{ESSAY_REPO}); the files differ from the pinned ones: check the URL/commit or download again"
        )


def fetch_files(
    base_url: str,
    registry: Mapping[str, str | None],
    folder: Path,
    *,
    retries: int = 3,
    timeout: float = 30.0,
) -> None:
    """Download `{base_url}/{name}` into `folder/name` for each registry entry, with pooch: a file whose
    sha256 differs from its known one (None: not checked) is refused, a transient failure (connection,
    timeout, HTTP 5xx, a corrupted file) is retried `retries` times with a growing pause, an HTTP 4xx is not.
    Raises DataError naming the file, the URL and the reason."""
    import pooch  # only this step needs it (and requests)
    import requests

    class NotRetried(Exception):
        """An HTTP client error (404, 403, ...): asking again gives the same answer."""

    http = pooch.HTTPDownloader(timeout=timeout, progressbar=False)

    def download(url: str, output_file: object, fetcher: object, check_only: bool = False) -> object:
        try:
            return http(url, output_file, fetcher, check_only=check_only)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status is not None and 400 <= status < 500 and status not in (408, 429):
                raise NotRetried(str(exc)) from exc
            raise

    fetcher = pooch.create(
        path=folder,
        base_url=base_url.rstrip("/") + "/",
        registry={name: None if digest is None else f"sha256:{digest}" for name, digest in registry.items()},
        retry_if_failed=retries,
    )
    for name in registry:
        try:
            fetcher.fetch(name, downloader=download)
        except ValueError as exc:  # pooch: the hash differs, also after the retries
            raise DataError(
                f"essay {name} from {fetcher.get_url(name)} is not the pinned file: {exc} Check the URL and "
                "commit, or copy the essays from a checkout with `download-haystack --from-dir DIR`"
            ) from None
        except (NotRetried, requests.RequestException, OSError) as exc:
            attempts = "refused, not retried" if isinstance(exc, NotRetried) else f"{1 + retries} attempt(s)"
            raise DataError(
                f"could not download essay {name} from {fetcher.get_url(name)} ({attempts}): {exc}. Check the "
                f"network or base_url, or copy the essays from a checkout of {ESSAY_REPO} with "
                "`download-haystack --from-dir DIR`"
            ) from exc


def download_haystack(
    dest: str | os.PathLike[str],
    *,
    base_url: str = ESSAY_BASE_URL,
    commit: str = ESSAY_COMMIT,
    sha256: str = ESSAY_SHA256,
    timeout: float = 30.0,
    retries: int = 3,
) -> Path:
    """Fetch the 49 essays from `{base_url}/{commit}/needlehaystack/PaulGrahamEssays/{name}` into `dest`.

    The files go to a temp folder next to `dest` (`fetch_files`: each checked against its sha256 at the
    pinned commit, transient failures retried), the sha256 over their concatenation (ESSAY_FILES order)
    is checked, and only then is the folder renamed to `dest`. Raises DataError naming the failing file.
    """
    check_commit(commit)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    # per-file hashes are known at the pinned commit; at another commit only the concatenation is checked
    known = ESSAY_FILE_SHA256 if commit == ESSAY_COMMIT else {}
    try:
        fetch_files(
            f"{base_url.rstrip('/')}/{commit}/{ESSAY_FOLDER}",
            {name: known.get(name) for name in ESSAY_FILES},
            tmp,
            retries=retries,
            timeout=timeout,
        )
        _verify(tmp, sha256, base_url)
        return _install(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def copy_haystack(
    source_dir: str | os.PathLike[str], dest: str | os.PathLike[str], *, sha256: str = ESSAY_SHA256
) -> Path:
    """The offline alternative: copy the essays from a local folder, with the same hash check."""
    source = Path(source_dir)
    if not source.is_dir():
        raise DataError(
            f"essay folder {source} does not exist; pass the PaulGrahamEssays folder of a checkout"
        )
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for name in ESSAY_FILES:
            if (source / name).is_file():
                shutil.copyfile(source / name, tmp / name)
        _verify(tmp, sha256, str(source))
        return _install(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def check_commit(commit: str) -> str:
    """A commit id must be hex, so a branch name (which moves) cannot sneak into the pinned URL."""
    if not (7 <= len(commit) <= 40 and all(c in "0123456789abcdef" for c in commit.lower())):
        raise ConfigError(
            f"haystack commit {commit!r} is not a commit id; use a hex sha such as {ESSAY_COMMIT}"
        )
    return commit
