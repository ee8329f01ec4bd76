"""Load a model from a local directory laid out like a hub snapshot; download pinned snapshots.

Toy and real models go through the same `load_model`: a directory with `config.json`, `*.safetensors`
and tokenizer files. Only safetensors are loaded and `trust_remote_code` is off, so loading never runs
code from the model repository. The revision recorded in results comes from `revision.txt` (written by
`download_snapshot`: the exact hub commit) or, for locally made models, from a hash of the weights.

Hub snapshots live in the standard Hugging Face cache (`HF_HOME`); `download_snapshot` makes the model
directory a folder of links to the cached files, so a model already in the cache is not downloaded again
and nothing is stored twice.

`device`: "cpu", "cuda:N" (one GPU), "cuda" (every visible GPU: the model is spread over them with
accelerate's device_map when it does not fit one, never offloaded to the CPU), "mps". A CUDA device on a
machine without a usable GPU fails at once with one line (`DeviceError`), never a silent CPU run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from hybrid_retrieval.errors import ConfigError, HybridRetrievalError, ModelLoadError
from hybrid_retrieval.filenames import REVISION_FILE, TOY_METADATA_FILE
from hybrid_retrieval.infra import hub
from hybrid_retrieval.io import write_text
from hybrid_retrieval.models.base import ArchitectureAdapter
from hybrid_retrieval.models.registry import get_adapter

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Everything from_pretrained needs and nothing that could execute (no *.py, no pickled *.bin): configs,
# safetensors, tokenizer files, chat templates (*.jinja).
SNAPSHOT_PATTERNS = hub.MODEL_PATTERNS
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")


class DeviceError(HybridRetrievalError):
    """The configured device is not usable on this machine (no GPU visible, ...)."""


def check_device(device: str) -> str:
    """The device if this machine can run on it; DeviceError (one line, with the fix) otherwise."""
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            why = (
                "this torch build has no CUDA"
                if torch.version.cuda is None
                else f"no GPU is visible (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})"
            )
            raise DeviceError(
                f"device {device!r} is configured but {why}; run on a GPU node (SLURM: the rule's gpu resource), "
                "install a CUDA build of torch, or set device: cpu in the config for a (slow) CPU run"
            )
        if ":" in device and int(device.split(":")[1]) >= torch.cuda.device_count():
            raise DeviceError(
                f"device {device!r} is configured but only {torch.cuda.device_count()} GPU(s) are visible; "
                "use device: cuda (every visible GPU) or a smaller index"
            )
    elif device == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("device 'mps' is configured but MPS is not available; set device: cpu")
    return device


def _gpu_memory_map(fraction: float = 0.92) -> dict[int | str, int]:
    """max_memory for accelerate: each visible GPU's total memory (a margin left for activations); no CPU."""
    return {
        i: int(torch.cuda.get_device_properties(i).total_memory * fraction)
        for i in range(torch.cuda.device_count())
    }


@dataclass
class LoadedModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    adapter: ArchitectureAdapter
    name: str
    revision: str  # hub commit sha, or "toy-"/"local-" + sha256[:12] of the weights


def _weights_cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hybrid-retrieval" / "weights-sha256.json"


def _weights_sha256(model_dir: Path) -> str:
    """sha256 over the safetensors files (sorted by name). Cached per file set (path, size, mtime) in
    ~/.cache/hybrid-retrieval, so a 100 GB local model is hashed once, not by every job that loads it."""
    files = sorted(model_dir.glob("*.safetensors"))
    key = json.dumps([[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in files])
    cache_file = _weights_cache_file()
    try:
        cache = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return cache[key]
    digest = hashlib.sha256()
    for path in files:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    try:
        # Entries of deleted models are dropped, so the file does not grow without bound.
        kept = {k: v for k, v in cache.items() if all(Path(p).exists() for p, *_ in json.loads(k))}
        write_text(json.dumps({**kept, key: digest.hexdigest()}), cache_file)
    except OSError:
        pass  # a read-only home: hash again next time
    return digest.hexdigest()


def weights_revision(model_dir: Path) -> str:
    """The revision of a locally made model: "toy-" + sha256[:12] of its weights for a toy trained here
    (it has a toy_metadata.json), "local-" + sha256[:12] for any other local directory."""
    kind = "toy" if (model_dir / TOY_METADATA_FILE).is_file() else "local"
    return f"{kind}-{_weights_sha256(model_dir)[:12]}"


def _check_model_dir(model_dir: Path) -> str:
    """Check the layout and return the config's model_type."""
    if not model_dir.is_dir():
        raise ModelLoadError(
            f"model directory {str(model_dir)!r} does not exist. Pass a local directory in hub-snapshot "
            "layout (config.json, *.safetensors, tokenizer files); for a toy model train it first with "
            "`hybrid-retrieval train-toy --model <name>`, for a hub model download it with "
            "`hybrid-retrieval download-model` (download_snapshot) while online"
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


def _corrupt_weights_error(model_dir: Path, error: Exception) -> ModelLoadError:
    """One line naming the safetensors file that does not open (truncated, corrupt header) and the fix."""
    from safetensors import safe_open

    bad = None
    for path in sorted(model_dir.glob("*.safetensors")):
        try:
            with safe_open(path, framework="pt"):
                pass
        except Exception:  # SafetensorError, or an OSError for a dangling link
            bad = path
            break
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    if bad is None:
        return ModelLoadError(
            f"the weights in {str(model_dir)!r} do not load ({reason}); replace them or download the model again"
        )
    if bad.is_symlink():  # a hub model: a link into the HF cache
        return ModelLoadError(
            f"{bad} (the cached blob {bad.resolve()}) is corrupt or truncated ({reason}); delete {model_dir} and "
            "download it again (`hybrid-retrieval download-model --config ... --model ...` or the workflow: "
            "the download checks each cached file against the hub and fetches a bad one again)"
        )
    return ModelLoadError(
        f"{bad} is corrupt or truncated ({reason}); replace it with a complete copy (for a toy model: delete "
        f"{model_dir} and train it again)"
    )


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
    check_device(device)  # before any weights are read
    model_type = _check_model_dir(model_dir)
    adapter = get_adapter(model_type)  # UnknownArchitectureError before any weights are read
    # "cuda" = every visible GPU: accelerate places the layers straight onto the GPUs (never the CPU), so
    # a model larger than one GPU (Jamba-Mini-1.6, ~97 GiB in bf16) runs on several smaller ones.
    placement = {"device_map": "auto", "max_memory": _gpu_memory_map()} if device == "cuda" else {}
    try:
        model = AutoModelForCausalLM.from_pretrained(
            model_dir,
            dtype=DTYPES[dtype],
            use_safetensors=True,
            trust_remote_code=False,
            local_files_only=True,
            attn_implementation="eager",
            **placement,
        )
        tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False, local_files_only=True)
    except SafetensorError as error:
        raise _corrupt_weights_error(model_dir, error) from error
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"could not load the model in {str(model_dir)!r}: {error}") from error
    if placement:
        off_gpu = sorted(
            {str(d) for d in getattr(model, "hf_device_map", {}).values() if not isinstance(d, int)}
        )
        if off_gpu:
            raise ModelLoadError(
                f"{model_dir.name} does not fit the visible GPUs ({torch.cuda.device_count()}): parts would go to "
                f"{off_gpu}; use more or larger GPUs (Jamba-Mini-1.6 needs ~97 GiB in bf16)"
            )
    else:
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


def download_snapshot(
    repo_id: str, revision: str, dest: str | os.PathLike[str], *, commit: str | None = None
) -> Path:
    """A hub model at one exact commit into the HF cache, `dest` a folder of links to it
    (`hub.download_model_snapshot`, which imports no torch: the download rule uses it directly)."""
    return hub.download_model_snapshot(repo_id, revision, dest, commit=commit)
