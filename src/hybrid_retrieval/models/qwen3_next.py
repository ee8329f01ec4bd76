"""Qwen3-Next (Qwen/Qwen3-Next-80B-A3B-*): Gated DeltaNet layers (`linear_attn`) and gated attention layers
(`self_attn`: the attention output is multiplied by sigmoid(gate) before `o_proj`; a masked head stays
exactly 0 through the gate, so masking inside the attention function is exact)."""

from hybrid_retrieval.models.base import FamilyAdapter

ADAPTER = FamilyAdapter(
    family="qwen3_next",
    model_types=("qwen3_next",),
    attention=("Qwen3NextAttention",),
    mixers=("Qwen3NextGatedDeltaNet",),
)
