"""Falcon-H1 (tiiuae/Falcon-H1-*): every decoder layer runs attention (`self_attn`) and a Mamba2 mixer
(`mamba`) side by side on the same input, each output scaled and summed into the residual. So every layer
is an attention layer and a mixer layer: `layer_ablation` of layer i removes its attention *branch* (the SSM
branch stays), `mixer_ablation` of layer i its SSM branch. "Ablate the attention layers" results are
therefore not directly comparable with those of sequential hybrids (Jamba, Bamba, ...)."""

from hybrid_retrieval.models.base import FamilyAdapter

ADAPTER = FamilyAdapter(
    family="falcon_h1",
    model_types=("falcon_h1",),
    attention=("FalconH1Attention",),
    mixers=("FalconH1Mixer",),
    note="parallel: attention and Mamba2 branches in every layer; layer ablation removes one branch",
)
