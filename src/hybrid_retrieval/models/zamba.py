"""Zamba (Zyphra/Zamba-7B-v1): Mamba layers, and every `attn_layer_period`-th a hybrid layer whose shared
transformer block (`shared_transf.self_attn`, input = concat(hidden, embeddings), hence head_dim =
2 * hidden / heads) runs before its Mamba block. The block's weights are tied across depths (one Parameter),
but each depth is its own module with its own cache entry, so masking one depth leaves the others alone.
Stand-ins must keep `tie_word_embeddings=True`: with False, transformers 5.24 also unties the shared block
and loads the other depths as random weights."""

from hybrid_retrieval.models.base import FamilyAdapter

ADAPTER = FamilyAdapter(
    family="zamba",
    model_types=("zamba",),
    attention=("ZambaAttention",),
    mixers=("ZambaMambaMixer",),
    note="shared attention block, tied weights across depths (ablating one depth keeps the others)",
)
