"""What the authors' Jamba decoding would have done with a checkpoint's own generation config.

Their Jamba path (lamalunderscore/NIAH@2e34c21 `utils/model_scaffold.py`, `Huggingface.get_output`) calls
`model.generate(input_ids, max_new_tokens=40)` with no other argument, so decoding follows the checkpoint's
`generation_config.json`: greedy if it asks for nothing else, otherwise sampling, beams or penalties. Ours is
greedy (stop at the EOS ids of the tokenizer and of that config). `authors_decoding(model_dir)` reads the
file when present and lists every setting under which their call would have decoded differently from ours.

    python -m hybrid_retrieval.generation_config <model_dir>   # prints the record as JSON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

FILE = "generation_config.json"

# Settings that change the chosen tokens, by the decoding mode in which they act (transformers' names).
SAMPLING = ("temperature", "top_k", "top_p", "typical_p", "min_p", "epsilon_cutoff", "eta_cutoff")
BEAMS = ("num_beams", "num_beam_groups", "diversity_penalty", "length_penalty", "early_stopping")
ANY_MODE = (
    "repetition_penalty",
    "encoder_repetition_penalty",
    "no_repeat_ngram_size",
    "bad_words_ids",
    "min_length",
    "min_new_tokens",
    "suppress_tokens",
    "begin_suppress_tokens",
    "forced_bos_token_id",
    "forced_eos_token_id",
    "sequence_bias",
    "exponential_decay_length_penalty",
    "renormalize_logits",
    "guidance_scale",
)


def authors_decoding(model_dir: str | Path) -> dict[str, Any]:
    """{"file": path or None, "mode": transformers' generation mode of their call ("greedy_search" when the
    file is absent: generate's defaults), "greedy": bool, "settings": the file's non-default settings,
    "differences": one sentence per setting under which their call decodes differently from ours}."""
    from transformers import GenerationConfig

    path = Path(model_dir) / FILE
    if not path.is_file():
        return {"file": None, "mode": "greedy_search", "greedy": True, "settings": {}, "differences": []}
    try:
        config = GenerationConfig.from_pretrained(str(model_dir))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} cannot be read as a generation config ({exc}); fix or remove the file") from exc
    defaults = GenerationConfig()
    mode = config.get_generation_mode().value
    active = list(ANY_MODE)
    if config.do_sample:
        active += SAMPLING
    if (config.num_beams or 1) > 1:
        active += BEAMS
    differences = []
    if mode != "greedy_search":
        differences.append(
            f"decoding mode {mode} (do_sample={config.do_sample}, num_beams={config.num_beams}): their "
            "generate call did not decode greedily; ours does"
        )
    for name in active:
        value, default = getattr(config, name, None), getattr(defaults, name, None)
        if value is not None and value != default and name != "num_beams":
            differences.append(f"{name}={value!r} (generate's default {default!r}; ours: not applied)")
    settings = {k: v for k, v in config.to_diff_dict().items() if k != "transformers_version"}
    return {
        "file": str(path),
        "mode": mode,
        "greedy": not differences,
        "settings": settings,
        "differences": differences,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m hybrid_retrieval.generation_config <model_dir>", file=sys.stderr)
        return 2
    print(json.dumps(authors_decoding(args[0]), indent=2, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
