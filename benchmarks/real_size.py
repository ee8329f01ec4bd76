"""The paper's three architectures at full geometry, random bf16 weights built on the device: what the real
run costs, and the projected wall time of config/paper.yaml per model.

    .venv/bin/python benchmarks/real_size.py                     # GPU when there is one, full size
    .venv/bin/python benchmarks/real_size.py --size reduced      # CPU, small geometry (CI runs this)

Per model, on one --length-token prompt (batch --batch): prefill with SDPA (what every prefill-intact
condition shares) and with the intervention's eager attention (k = 5 in all phases: prefill-sparsified
conditions); --new-tokens decode steps branched from the shared prefill for the baseline, entropy top-5
(generation) and exposure omit; a JRT prompt (two copies, so twice the tokens) with k = 5; a batch of
--mmlu-batch MMLU-length (--mmlu-length tokens) questions under k = H in all phases (eager). Jamba runs
with the mamba kernels when mamba_ssm and causal_conv1d are installed (transformers 5.24 selects them
itself; the `kernels` extra installs them; each model's line names the implementation every mixer type
ran, `hybrid_retrieval.models.kernels`: compare by running once with and once without them). Prints seconds per stage, trials/s, peak
device memory and a projection of paper.yaml's retrieval grid (every experiment's conditions x cells, each
cell timed as the measured stages scaled linearly by its length) plus MMLU where paper.yaml runs it.
Weights are random: speed and memory are real, outputs are not (nothing is scored).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

FULL = {
    "recurrentgemma-2b": ("recurrent_gemma", dict(
        hidden_size=2560, intermediate_size=15360, num_hidden_layers=26, num_attention_heads=10,
        num_key_value_heads=1, head_dim=256, lru_width=2560, attention_window_size=2048, vocab_size=256000,
        block_types=["recurrent", "recurrent", "attention"])),
    "recurrentgemma-9b": ("recurrent_gemma", dict(
        hidden_size=4096, intermediate_size=24576, num_hidden_layers=38, num_attention_heads=16,
        num_key_value_heads=1, head_dim=256, lru_width=4096, attention_window_size=2048, vocab_size=256000,
        block_types=["recurrent", "recurrent", "attention"])),
    "jamba-mini-1.6": ("jamba", dict(
        hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=8, attn_layer_period=8, attn_layer_offset=4, num_experts=16, num_experts_per_tok=2,
        expert_layer_period=2, expert_layer_offset=1, mamba_d_state=16, mamba_d_conv=4, mamba_expand=2,
        mamba_dt_rank=256, vocab_size=65536)),
}  # fmt: skip
REDUCED = {
    "recurrentgemma-2b": ("recurrent_gemma", dict(
        hidden_size=80, intermediate_size=160, num_hidden_layers=3, num_attention_heads=10, num_key_value_heads=1,
        head_dim=8, lru_width=80, attention_window_size=128, vocab_size=1000,
        block_types=["recurrent", "recurrent", "attention"])),
    "recurrentgemma-9b": ("recurrent_gemma", dict(
        hidden_size=128, intermediate_size=256, num_hidden_layers=3, num_attention_heads=16,
        num_key_value_heads=1, head_dim=8, lru_width=128, attention_window_size=128, vocab_size=1000,
        block_types=["recurrent", "recurrent", "attention"])),
    "jamba-mini-1.6": ("jamba", dict(
        hidden_size=128, intermediate_size=128, num_hidden_layers=8, num_attention_heads=32, num_key_value_heads=8,
        attn_layer_period=8, attn_layer_offset=4, num_experts=4, num_experts_per_tok=2, expert_layer_period=2,
        expert_layer_offset=1, mamba_d_state=8, mamba_d_conv=4, mamba_expand=2, mamba_dt_rank=8, vocab_size=1000)),
}  # fmt: skip


def build(arch: str, geometry: dict, device: str, dtype: torch.dtype):
    """A LoadedModel with random weights created directly on `device` in `dtype` and a word-level tokenizer."""
    from tokenizers import Tokenizer, models
    from transformers import (
        JambaConfig,
        JambaForCausalLM,
        PreTrainedTokenizerFast,
        RecurrentGemmaConfig,
        RecurrentGemmaForCausalLM,
    )

    from hybrid_retrieval.models.loading import LoadedModel
    from hybrid_retrieval.models.registry import get_adapter

    ids = dict(pad_token_id=0, eos_token_id=1, bos_token_id=2)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            if arch == "recurrent_gemma":
                model = RecurrentGemmaForCausalLM(
                    RecurrentGemmaConfig(**geometry, **ids, attn_implementation="eager")
                )
            else:
                model = JambaForCausalLM(JambaConfig(**geometry, **ids, attn_implementation="eager"))
    finally:
        torch.set_default_dtype(previous)
    vocab = {f"t{i}": i for i in range(geometry["vocab_size"])}
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab=vocab, unk_token="t3")),
        pad_token="t0", eos_token="t1", bos_token="t2", unk_token="t3",
    )  # fmt: skip
    model.eval()
    return LoadedModel(
        model=model, tokenizer=tokenizer, adapter=get_adapter(model), name=arch, revision="random"
    )


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(device: str, fn, repeat: int = 1) -> float:
    """Median seconds of `repeat` calls after one warm-up call."""
    fn()
    sync(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def measure(loaded, device: str, args, boundary: str) -> dict[str, float]:
    from hybrid_retrieval.generation.decoding import branch, decode, prefill
    from hybrid_retrieval.interventions import InterventionSpec, apply_intervention

    vocab = loaded.model.config.vocab_size
    generator = torch.Generator().manual_seed(0)
    prompt = torch.randint(4, vocab, (args.batch, args.length), generator=generator)
    prompt[:, 0] = 2
    jrt = torch.cat([prompt, prompt[:, 1:]], dim=1)
    middle = args.length // 2
    spans = [[(middle, middle + 20)] for _ in range(args.batch)]
    heads = min(layer.num_heads for layer in loaded.adapter.attention_layers(loaded.model))
    k5 = InterventionSpec(kind="entropy_topk", k=min(5, heads))
    k5_all = InterventionSpec(kind="entropy_topk", k=min(5, heads), phase="all")
    omit = InterventionSpec(kind="none", generation_mode="omit")
    shared = {}

    def prefill_sdpa():
        shared["start"] = prefill(loaded, prompt, boundary, fast_attention=True)

    def prefill_eager():
        with apply_intervention(loaded, k5_all, needle_spans=spans):
            prefill(loaded, prompt, boundary)

    def decoding(spec):
        def run():
            with apply_intervention(loaded, spec, needle_spans=spans):
                decode(loaded, branch(shared["start"], list(range(args.batch))), args.new_tokens)

        return run

    def jrt_trial():
        start = prefill(loaded, jrt, boundary, fast_attention=True)
        with apply_intervention(loaded, k5, needle_spans=spans):
            decode(loaded, start, args.new_tokens)

    mmlu = torch.randint(4, vocab, (args.mmlu_batch, args.mmlu_length), generator=generator)

    def mmlu_batch():
        with apply_intervention(loaded, InterventionSpec(kind="entropy_topk", k=heads, phase="all")):
            with torch.inference_mode():
                loaded.model(input_ids=mmlu.to(loaded.model.device), use_cache=False, logits_to_keep=1)

    out = {"prefill_sdpa": timed(device, prefill_sdpa, args.repeat)}
    out["prefill_eager_intervened"] = timed(device, prefill_eager, args.repeat)
    for name, spec in (
        ("decode_baseline", InterventionSpec(kind="none")),
        ("decode_k5", k5),
        ("decode_omit", omit),
    ):
        out[name] = timed(device, decoding(spec), args.repeat)
    out["jrt_trial_k5"] = timed(device, jrt_trial, args.repeat)
    out["mmlu_batch"] = timed(device, mmlu_batch, args.repeat)
    return out


def projection(name: str, loaded, stages: dict[str, float], args) -> tuple[float, list[str]]:
    """Seconds for paper.yaml's retrieval experiments (+ MMLU) on `name`, from the measured stages."""
    from hybrid_retrieval.config import EXPERIMENT_SECTIONS, load_config_file
    from hybrid_retrieval.generation.decoding import prefill_is_intact
    from hybrid_retrieval.jobs.experiments import experiment_specs, num_heads

    cfg = load_config_file(args.config)
    if name not in cfg.models:
        return float("nan"), [f"{name} is not in {args.config}"]
    per_row = 1.0 / args.batch  # the stages were timed for a batch of rows
    lines, total = [], 0.0
    for experiment, section in EXPERIMENT_SECTIONS.items():
        if name not in cfg.models_for(section):
            continue
        settings = cfg.settings(section)
        extra_static = 0
        if experiment == "sparsity_sweep" and settings["static_heads"]["enabled"]:
            h = num_heads(loaded)
            ks = range(h + 1) if settings["k"] == "all" else settings["k"]
            extra_static = sum(1 for k in ks if isinstance(k, int) and 0 < k < h) * len(settings["phases"])
            settings = {**settings, "static_heads": {"enabled": False}}
        conditions = experiment_specs(experiment, settings, loaded)
        grid = cfg.grid_for(section)
        lengths = grid["context_lengths"]
        cells = len(grid["depths"]) * grid["trials_per_cell"]
        seconds = 0.0
        for length in lengths:
            scale = length / args.length
            shared = [s for s, _ in conditions if prefill_is_intact(s)] + [None] * extra_static
            own = [s for s, _ in conditions if not prefill_is_intact(s)]
            copies = max(len(kinds) for _, kinds in conditions)
            per_cell = 0.0
            if shared:
                per_cell += stages["prefill_sdpa"] * scale
                for spec in shared:
                    if spec is not None and spec.kind == "none":
                        per_cell += stages["decode_omit" if spec.uses_needles else "decode_baseline"]
                    else:
                        per_cell += stages["decode_k5"]
            per_cell += len(own) * (stages["prefill_eager_intervened"] * scale + stages["decode_k5"])
            if copies == 2:  # JRT: the standard prompt above, plus the two-copy prompt
                per_cell += len(conditions) * stages["jrt_trial_k5"] * scale
            seconds += per_cell * cells * per_row
        total += seconds
        lines.append(f"    {experiment:<18} {len(conditions) + extra_static:>3} conditions x {len(lengths) * cells:>4} "
                     f"cells: {seconds / 3600:7.2f} h")  # fmt: skip
    if name in cfg.models_for("mmlu"):
        mmlu = cfg.experiments.mmlu
        questions = 14042 if mmlu.max_questions_per_subject is None else 57 * mmlu.max_questions_per_subject
        seconds = questions / args.mmlu_batch * stages["mmlu_batch"] * len(mmlu.k)
        total += seconds
        lines.append(
            f"    {'mmlu':<18} {len(mmlu.k):>3} k values x {questions} questions: {seconds / 3600:7.2f} h"
        )
    lines.append("    (not projected: head scores, recordings; prefill scaled linearly with length)")
    return total, lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size", choices=["full", "reduced"], default=None, help="default: full on a GPU, else reduced"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", nargs="+", default=list(FULL), choices=list(FULL))
    parser.add_argument(
        "--length", type=int, default=None, help="prompt tokens (default 4096 full, 256 reduced)"
    )
    parser.add_argument(
        "--new-tokens", type=int, default=None, help="decode steps (default 40 full, 4 reduced)"
    )
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--mmlu-batch", type=int, default=8)
    parser.add_argument(
        "--mmlu-length", type=int, default=None, help="tokens per MMLU question (default 640 / 64)"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--config", default=str(ROOT / "config" / "paper.yaml"))
    args = parser.parse_args(argv)
    size = args.size or ("full" if args.device.startswith("cuda") else "reduced")
    full = size == "full"
    args.length = args.length or (4096 if full else 256)
    args.new_tokens = args.new_tokens or (40 if full else 4)
    args.mmlu_length = args.mmlu_length or (640 if full else 64)
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    from hybrid_retrieval.generation.decoding import AUTHORS_PREFILL_BOUNDARY
    from hybrid_retrieval.models.kernels import kernel_paths, summary

    gpu = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "none"
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads, device {args.device} (GPU: {gpu}), {dtype}; size {size}, prompt {args.length} tokens x "
          f"batch {args.batch}, {args.new_tokens} new tokens")  # fmt: skip
    for name in args.models:
        arch, geometry = (FULL if full else REDUCED)[name]
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        loaded = build(arch, geometry, args.device, dtype)
        built = time.perf_counter() - start
        params = sum(p.numel() for p in loaded.model.parameters())
        boundary = AUTHORS_PREFILL_BOUNDARY[arch]
        stages = measure(loaded, args.device, args, boundary)
        peak = torch.cuda.max_memory_allocated() / 2**30 if args.device.startswith("cuda") else float("nan")
        label = f"{name} (mixers: {summary(kernel_paths(loaded.model))})"
        print(f"\n{label}: {params / 1e9:.2f} B parameters, built in {built:.1f} s, boundary {boundary}, "
              f"peak device memory {peak:.1f} GiB")  # fmt: skip
        for stage, seconds in stages.items():
            print(f"    {stage:<26}{seconds:9.3f} s")
        trial = stages["prefill_sdpa"] + stages["decode_baseline"]
        print(f"    baseline trials/s: {args.batch / trial:.3f}; eager / SDPA prefill: "
              f"{stages['prefill_eager_intervened'] / stages['prefill_sdpa']:.2f}x")  # fmt: skip
        total, lines = projection(name, loaded, stages, args)
        print(f"  projected paper.yaml wall time (one device): {total / 3600:.2f} h"
              + ("" if full else "  [reduced geometry: not the real cost]"))  # fmt: skip
        print("\n".join(lines))
        del loaded
        with contextlib.suppress(Exception):
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
