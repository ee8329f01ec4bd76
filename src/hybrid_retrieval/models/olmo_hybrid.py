"""OLMo Hybrid (allenai/Olmo-Hybrid-*): Gated DeltaNet layers (`linear_attn`, whose projection is also
called `o_proj`: found by class) and attention layers (`self_attn`) by `layer_types`."""

from hybrid_retrieval.models.base import FamilyAdapter

ADAPTER = FamilyAdapter(
    family="olmo_hybrid",
    model_types=("olmo_hybrid",),
    attention=("OlmoHybridAttention",),
    mixers=("OlmoHybridGatedDeltaNet",),
)
