"""Zamba2 (Zyphra/Zamba2-1.2B, 2.7B, 7B): Mamba2 layers, and hybrid layers whose shared transformer block
(`shared_transformer.self_attn`, `num_mem_blocks` blocks shared round-robin, per-depth LoRA on q/k/v,
head_dim = 2 * hidden / heads) runs before the Mamba2 block. The attention module's `layer_idx` is -1; the
depth arrives at call time and is the decoder layer index, which is also its cache index. Same tie trap as
Zamba (`tie_word_embeddings` must stay True in stand-ins)."""

from hybrid_retrieval.models.base import FamilyAdapter

ADAPTER = FamilyAdapter(
    family="zamba2",
    model_types=("zamba2",),
    attention=("Zamba2Attention",),
    mixers=("Zamba2MambaMixer",),
    note="shared attention block(s), tied weights across depths (ablating one depth keeps the others)",
)
