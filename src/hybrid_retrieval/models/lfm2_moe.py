"""LFM2-MoE (LiquidAI/LFM2-8B-A1B): LFM2's layout (gated short convolutions and attention by `layer_types`,
the attention's projection called `out_proj` like the convolutions') with mixture-of-experts FFNs."""

from hybrid_retrieval.models.base import FamilyAdapter

ADAPTER = FamilyAdapter(
    family="lfm2_moe",
    model_types=("lfm2_moe",),
    attention=("Lfm2MoeAttention",),
    mixers=("Lfm2MoeShortConv",),
    out_projection="out_proj",
)
