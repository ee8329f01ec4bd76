"""Nemotron-H (nvidia/Nemotron-H-*, NVIDIA-Nemotron-Nano-*): one `mixer` per block, by
`layers_block_type`: Mamba2, attention, MLP or MoE (the MLP/MoE blocks hold no sequence mixer and a
DummyLayer in the cache)."""

from hybrid_retrieval.models.base import FamilyAdapter

ADAPTER = FamilyAdapter(
    family="nemotron_h",
    model_types=("nemotron_h",),
    attention=("NemotronHAttention",),
    mixers=("NemotronHMamba2Mixer",),
)
