"""Load a model from a local directory laid out like a hub snapshot; download pinned snapshots.

Toy and real models go through the same `load_model`: a directory with `config.json`, `*.safetensors`
and tokenizer files. Only safetensors are loaded and `trust_remote_code` is off, so loading never runs
code from the model repository. The revision recorded in results comes from `revision.txt` (written by
`download_snapshot`) or, for locally made models, from a hash of the weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from hybrid_retrieval.errors import ConfigError, ModelLoadError
from hybrid_retrieval.io import write_text
from hybrid_retrieval.models.base import ArchitectureAdapter
from hybrid_retrieval.models.registry import get_adapter

REVISION_FILE = "revision.txt"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Everything from_pretrained needs and nothing that could execute (no *.py, no pickled *.bin).
SNAPSHOT_PATTERNS = ["*.json", "*.safetensors", "*.model", "tokenizer*"]
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")


@dataclass
class LoadedModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    adapter: ArchitectureAdapter
    name: str
    revision: str  # hub commit sha, or "toy-<sha256[:12] of the weights>"


def weights_revision(model_dir: Path) -> str:
    """ "toy-" + sha256[:12] over the safetensors files (sorted by name) of a locally made model."""
    digest = hashlib.sha256()
    for path in sorted(model_dir.glob("*.safetensors")):
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return "toy-" + digest.hexdigest()[:12]


def _check_model_dir(model_dir: Path) -> str:
    """Check the layout and return the config's model_type."""
    if not model_dir.is_dir():
        raise ModelLoadError(
            f"model directory {str(model_dir)!r} does not exist. Pass a local directory in hub-snapshot "
            "layout (config.json, *.safetensors, tokenizer files); for a hub model download it first "
            "with `hybrid-retrieval download-model` (download_snapshot) while online"
        )
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(f"{str(model_dir)!r} has no config.json; it is not a model snapshot directory")
    if not any(model_dir.glob("*.safetensors")):
        found = sorted(p.name for p in model_dir.glob("*.bin")) or sorted(p.name for p in model_dir.iterdir())
        raise ModelLoadError(
            f"{str(model_dir)!r} has no *.safetensors weights (found: {found[:5]}); only safetensors are "
            "loaded (pickled .bin files can run code). Use a snapshot revision that ships safetensors "
            "or convert the weights with safetensors"
        )
    try:
        model_type = json.loads(config_path.read_text(encoding="utf-8")).get("model_type")
    except json.JSONDecodeError as error:
        raise ModelLoadError(f"{str(config_path)!r} is not valid JSON: {error}") from error
    if not model_type:
        raise ModelLoadError(f"{str(config_path)!r} has no model_type")
    return str(model_type)


def load_model(
    model_dir: str | os.PathLike[str],
    *,
    name: str | None = None,
    dtype: str = "float32",
    device: str = "cpu",
) -> LoadedModel:
    """Load model + tokenizer from a local hub-snapshot directory, in eval mode.

    Attention runs in transformers' eager implementation: interventions compute exactly that
    arithmetic, so an untouched run and a no-op intervention give identical logits.
    """
    model_dir = Path(model_dir)
    if dtype not in DTYPES:
        raise ConfigError(f"dtype {dtype!r} is not supported; use one of {', '.join(DTYPES)}")
    model_type = _check_model_dir(model_dir)
    adapter = get_adapter(model_type)  # UnknownArchitectureError before any weights are read
    try:
        model = AutoModelForCausalLM.from_pretrained(
            model_dir,
            dtype=DTYPES[dtype],
            use_safetensors=True,
            trust_remote_code=False,
            local_files_only=True,
            attn_implementation="eager",
        )
        tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False, local_files_only=True)
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"could not load the model in {str(model_dir)!r}: {error}") from error
    model.to(device)
    model.eval()
    revision_path = model_dir / REVISION_FILE
    if revision_path.is_file():
        revision = revision_path.read_text(encoding="utf-8").strip()
    else:
        revision = weights_revision(model_dir)
    return LoadedModel(
        model=model, tokenizer=tokenizer, adapter=adapter, name=name or model_dir.name, revision=revision
    )


def _offline() -> bool:
    import huggingface_hub.constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    return flag in {"1", "ON", "YES", "TRUE"} or bool(huggingface_hub.constants.HF_HUB_OFFLINE)


def download_snapshot(repo_id: str, revision: str, dest: str | os.PathLike[str]) -> Path:
    """Download a pinned hub snapshot (safetensors, configs, tokenizer) into `dest`, record the revision."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    dest = Path(dest)
    if not _SHA_RE.match(revision or ""):
        raise ConfigError(
            f"revision {revision!r} for {repo_id!r} is not a 40-hex commit sha; pin the exact commit "
            "(a branch or tag can move and change results)"
        )
    hint = (
        f"Pre-download {repo_id}@{revision} on a machine with network access (hybrid-retrieval "
        f"download-model) and copy it to {str(dest)!r}, or pass a local model path"
    )
    if _offline():
        raise ModelLoadError(f"cannot download {repo_id!r}: HF_HUB_OFFLINE is set. {hint}")
    try:
        snapshot_download(repo_id, revision=revision, local_dir=dest, allow_patterns=SNAPSHOT_PATTERNS)
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, HfHubHTTPError, OSError) as error:
        raise ModelLoadError(f"could not download {repo_id!r} at {revision}: {error}. {hint}") from error
    if not any(dest.glob("*.safetensors")):
        raise ModelLoadError(
            f"{repo_id}@{revision} has no *.safetensors files; only safetensors are loaded. Pick a "
            "revision that ships safetensors"
        )
    write_text(revision + "\n", dest / REVISION_FILE)
    return dest
