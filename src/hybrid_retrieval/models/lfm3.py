"""LFM3 (LiquidAI/LFM3-*): short-convolution layers (`conv`) and gated attention layers (`self_attn`,
per-head sigmoid gate before `o_proj`), full or sliding by `layer_types`. A sliding layer's module holds
`sliding_window` (a query sees itself and `sliding_window - 1` earlier tokens, as RecurrentGemma's window);
a full layer's holds None."""

from hybrid_retrieval.models.base import FamilyAdapter

ADAPTER = FamilyAdapter(
    family="lfm3",
    model_types=("lfm3",),
    attention=("Lfm3Attention",),
    mixers=("Lfm3ShortConv",),
    window_attribute="sliding_window",
)
