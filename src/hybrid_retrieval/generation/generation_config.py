"""What the authors' Jamba decoding would have done with a checkpoint's own generation config.

Their Jamba path (lamalunderscore/NIAH@2e34c21 `utils/model_scaffold.py`, `Huggingface.get_output`) calls
`model.generate(input_ids, max_new_tokens=40)` with no other argument, so decoding follows the checkpoint's
`generation_config.json`: greedy if it asks for nothing else, otherwise sampling, beams or penalties. Ours is
greedy (stop at the EOS ids of the tokenizer and of that config). `authors_decoding(model_dir)` reads the
file when present and lists every setting under which their call would have decoded differently from ours.

    hybrid-retrieval generation-config <model_dir>   # prints the record as JSON
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

FILE = "generation_config.json"

# transformers' effective defaults of `generate` for the settings that change the chosen tokens (the values
# its GenerationConfig applied when a file leaves them out: 4.x writes them, 5.x resolves None to them).
DEFAULTS: dict[str, Any] = {
    "do_sample": False,
    "num_beams": 1,
    "num_beam_groups": 1,
    "penalty_alpha": None,
    "temperature": 1.0,
    "top_k": 50,
    "top_p": 1.0,
    "typical_p": 1.0,
    "min_p": None,
    "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0,
    "diversity_penalty": 0.0,
    "length_penalty": 1.0,
    "early_stopping": False,
    "repetition_penalty": 1.0,
    "encoder_repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "bad_words_ids": None,
    "min_length": 0,
    "min_new_tokens": None,
    "suppress_tokens": None,
    "begin_suppress_tokens": None,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
    "sequence_bias": None,
    "exponential_decay_length_penalty": None,
    "renormalize_logits": False,
    "guidance_scale": None,
    "constraints": None,
    "force_words_ids": None,
    "dola_layers": None,
    "prompt_lookup_num_tokens": None,
}
SAMPLING = ("temperature", "top_k", "top_p", "typical_p", "min_p", "epsilon_cutoff", "eta_cutoff")
BEAMS = ("num_beam_groups", "diversity_penalty", "length_penalty", "early_stopping")
ANY_MODE = tuple(k for k in DEFAULTS if k not in (*SAMPLING, *BEAMS, "do_sample", "num_beams", "penalty_alpha"))


def _value(settings: dict[str, Any], name: str) -> Any:
    value = settings.get(name)
    return DEFAULTS[name] if value is None else value


def generation_mode(settings: dict[str, Any]) -> str:
    """The decoding mode `generate` runs under these settings (transformers' `get_generation_mode`, the
    assisted and DoLa extensions included); a test checks it against transformers."""
    if settings.get("constraints") is not None or settings.get("force_words_ids") is not None:
        mode = "constrained_beam_search"
    elif _value(settings, "num_beams") == 1:
        if _value(settings, "do_sample") is not True:
            alpha = settings.get("penalty_alpha")
            contrastive = settings.get("top_k") is not None and settings["top_k"] > 1 and alpha is not None and alpha > 0
            mode = "contrastive_search" if contrastive else "greedy_search"
        else:
            mode = "sample"
    elif _value(settings, "num_beam_groups") > 1:
        mode = "group_beam_search"
    else:
        mode = "beam_sample" if _value(settings, "do_sample") is True else "beam_search"
    if settings.get("prompt_lookup_num_tokens") is not None and mode in ("greedy_search", "sample"):
        mode = "assisted_generation"
    if settings.get("dola_layers") is not None and mode in ("greedy_search", "sample"):
        mode = "dola_generation"
    return mode


def authors_decoding(model_dir: str | Path) -> dict[str, Any]:
    """{"file": path or None, "mode": the decoding mode of their call ("greedy_search" when the file is
    absent: generate's defaults), "greedy": whether it decodes as ours does, "settings": the file's content
    (ids and versions included), "differences": one sentence per setting under which their call decodes
    differently from ours}. Reads JSON only (no transformers), so any env can record it."""
    path = Path(model_dir) / FILE
    if not path.is_file():
        return {"file": None, "mode": "greedy_search", "greedy": True, "settings": {}, "differences": []}
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} cannot be read as a generation config ({exc}); fix or remove the file") from exc
    if not isinstance(settings, dict):
        raise ValueError(f"{path} holds {type(settings).__name__}, not a JSON object; fix or remove the file")
    mode = generation_mode(settings)
    active = list(ANY_MODE)
    if _value(settings, "do_sample") is True:
        active += SAMPLING
    if _value(settings, "num_beams") > 1:
        active += BEAMS
    differences = []
    if mode != "greedy_search":
        differences.append(
            f"decoding mode {mode} (do_sample={_value(settings, 'do_sample')}, num_beams="
            f"{_value(settings, 'num_beams')}): their generate call did not decode greedily; ours does"
        )
    for name in active:
        if name in settings and _value(settings, name) != DEFAULTS[name]:
            differences.append(f"{name}={settings[name]!r} (generate's default {DEFAULTS[name]!r}; ours: not applied)")
    return {"file": str(path), "mode": mode, "greedy": not differences, "settings": settings, "differences": differences}


def main(argv: list[str] | None = None, prog: str = "hybrid-retrieval generation-config") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", help="a model snapshot folder (resources/models/<model>)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # usage error (2) or --help (0): a status, as every command returns
        return int(exit_.code or 0)
    print(json.dumps(authors_decoding(args.model_dir), indent=2, sort_keys=True, default=str))
    return 0
