"""The toy models' sizes per architecture (the transformers config values): a plain literal without torch,
so the config schema reads the toys' head counts at Snakefile parse time; `models.toy.recipe` merges them with
a config's overrides."""

from __future__ import annotations

from typing import Any

# Model sizes: small enough for a 2-core CPU, big enough to retrieve at 512 tokens.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "recurrent_gemma": {
        # Hidden 160 with RecurrentGemma-2B's 10 heads and 1 KV head (head dim 16, the LRU's 10 blocks of 16):
        # the paper's 5 of 32 = 15.6% lies between k = 1 (10%) and k = 2 (20%), two kept-head counts at or below
        # 20%. Head dim 16 is what makes the copy circuit form on every seed: with 16 heads of dim 8 at hidden
        # 128 (one KV head of width 8, 2 rotary frequencies) retrieval emerged on seed 0 only (94.5%; seeds 1
        # and 2: 9% and 0%); this recipe retrieves 99-100% on seeds 0-2 (MC 37-97%). ARTIFACT.md's seed table.
        "hidden_size": 160,
        "intermediate_size": 384,
        "num_hidden_layers": 6,
        "block_types": ["recurrent", "recurrent", "attention"],
        "num_attention_heads": 10,
        "num_key_value_heads": 1,
        "lru_width": 160,
        # Local attention window, as the real model's 2048: larger than any toy prompt, a config value so
        # experiments on the window can shrink it.
        "attention_window_size": 2048,
    },
    "jamba": {
        # Hidden 128 (first with 8 heads of dim 16) and tied embeddings: at hidden 96
        # (head dim 12) or untied the toy never learned to copy the needle's words (0% retrieval, session
        # probes in the foundation issue's note); tied, the copy circuit serves every token at once.
        "hidden_size": 128,
        "intermediate_size": 256,
        "tie_word_embeddings": True,
        # Two attention layers (2 and 5), each with SSM layers before and after it, so the per-layer
        # ablations have an SSM on each side of a retrieval layer.
        "num_hidden_layers": 6,
        "attn_layer_period": 3,
        "attn_layer_offset": 2,
        # 16 heads for the sweep's resolution (k = 1, 2, 3 keep 6.25-18.75%, around the paper's 5 of 32), each
        # of dim 16 (`head_dim`, read by JambaAttention; queries 256 wide at hidden 128) with 4 KV heads (KV
        # width 64). With head dim 8 (hidden / 16) the copy circuit did not form on every seed (4 KV heads:
        # seeds 0 and 2 only; 2 KV heads: neither 0 nor 1); with head dim 16 and 2 KV heads (the 8-head toy's
        # KV width 32) it formed on seeds 0 and 1, not on 2; with 4 KV heads on seeds 0-2 (100% each).
        # ARTIFACT.md's seed table.
        "num_attention_heads": 16,
        "num_key_value_heads": 4,
        "head_dim": 16,
        "num_experts": 1,
        "num_experts_per_tok": 1,
        "mamba_d_state": 8,
        "mamba_expand": 1,
        "mamba_d_conv": 4,
        # mambapy's parallel scan instead of the per-token Python loop.
        "use_mambapy": True,
    },
    "falcon_h1": {
        # The Jamba toy's attention geometry when issue 24 measured it (16 heads of dim 16, 2 KV heads, tied
        # embeddings, hidden 128), in FalconH1's parallel layout: each of the 6 layers runs attention and a
        # Mamba2 mixer (8 heads of dim 16, state 16, width 128) side by side, so every layer holds 16 heads
        # and the sweep's k is per layer over 6 layers instead of 2. The mup multipliers stay at 1 (the
        # plain architecture).
        "hidden_size": 128,
        "intermediate_size": 256,
        "tie_word_embeddings": True,
        "num_hidden_layers": 6,
        "num_attention_heads": 16,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "mamba_d_ssm": 128,
        "mamba_n_heads": 8,
        "mamba_d_head": 16,
        "mamba_d_state": 16,
        "mamba_expand": 1,
        "mamba_chunk_size": 64,
    },
}
