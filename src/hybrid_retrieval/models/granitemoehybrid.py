"""Granite 4.0-H (GraniteMoeHybrid; ibm-granite/granite-4.0-h-*): Mamba2 layers (`mamba`) and NoPE attention
layers (`self_attn`, None on Mamba layers) by `layer_types`; `attention_multiplier` arrives as the
attention function's `scaling`, which the interventions honour."""

from hybrid_retrieval.models.base import FamilyAdapter

ADAPTER = FamilyAdapter(
    family="granitemoehybrid",
    model_types=("granitemoehybrid",),
    attention=("GraniteMoeHybridAttention",),
    mixers=("GraniteMoeHybridMambaLayer",),
)
