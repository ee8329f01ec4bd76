"""Bailing hybrid (inclusionAI Ling / Ring linear models): Kimi Delta Attention layers and gated MLA
attention layers, both at `self_attn` (told apart by class); MLA as in Kimi Linear (KV heads = heads,
head width `v_head_dim`), and a per-head sigmoid gate before `o_proj` (a masked head stays 0)."""

from hybrid_retrieval.models.base import FamilyAdapter

ADAPTER = FamilyAdapter(
    family="bailing_hybrid",
    model_types=("bailing_hybrid",),
    attention=("BailingHybridAttention",),
    mixers=("BailingHybridDeltaAttention",),
)
