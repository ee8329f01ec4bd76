"""Bamba (ibm-ai-platform/Bamba-9B): Mamba2 layers (`mamba`) and attention layers (`self_attn`) at
`attn_layer_indices`, GQA."""

from hybrid_retrieval.models.base import FamilyAdapter

ADAPTER = FamilyAdapter(
    family="bamba",
    model_types=("bamba",),
    attention=("BambaAttention",),
    mixers=("BambaMixer",),
)
