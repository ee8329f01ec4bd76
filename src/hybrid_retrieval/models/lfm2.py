"""LFM2 (LiquidAI/LFM2-*): gated short-convolution layers (`conv`) and attention layers (`self_attn`) by
`layer_types`. The attention's output projection is `out_proj`, the same name as the convolutions'
projection: the adapter finds the attention by class and takes `out_proj` from it."""

from hybrid_retrieval.models.base import FamilyAdapter

ADAPTER = FamilyAdapter(
    family="lfm2",
    model_types=("lfm2",),
    attention=("Lfm2Attention",),
    mixers=("Lfm2ShortConv",),
    out_projection="out_proj",
)
