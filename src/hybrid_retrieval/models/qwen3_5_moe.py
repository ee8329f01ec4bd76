"""Qwen3.5-MoE (Qwen/Qwen3.5-35B-A3B and larger): Qwen3.5's layout (Gated DeltaNet and gated attention)
with mixture-of-experts FFNs; multimodal config.json (`qwen3_5_moe`) whose text model says
`qwen3_5_moe_text`, both naming this adapter."""

from hybrid_retrieval.models.base import FamilyAdapter

ADAPTER = FamilyAdapter(
    family="qwen3_5_moe",
    model_types=("qwen3_5_moe", "qwen3_5_moe_text"),
    attention=("Qwen3_5MoeAttention",),
    mixers=("Qwen3_5MoeGatedDeltaNet",),
)
