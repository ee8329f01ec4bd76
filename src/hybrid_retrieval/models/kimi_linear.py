"""Kimi Linear (moonshotai/Kimi-Linear-48B-A3B-*): Kimi Delta Attention layers and MLA attention layers,
both at `self_attn` (told apart by class). MLA caches a compressed latent and expands it to one key and one
value per query head before the attention function, so KV heads = heads and the head width is
`v_head_dim` (queries and keys use qk_nope + qk_rope), which is what the module itself reports."""

from hybrid_retrieval.models.base import FamilyAdapter

ADAPTER = FamilyAdapter(
    family="kimi_linear",
    model_types=("kimi_linear",),
    attention=("KimiLinearAttention",),
    mixers=("KimiLinearDeltaAttention",),
)
