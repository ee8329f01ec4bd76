"""Qwen3.5 (Qwen/Qwen3.5-*): Gated DeltaNet layers (`linear_attn`) and gated attention layers (`self_attn`,
as Qwen3-Next). Checkpoints are multimodal: config.json says `qwen3_5` (vision + `text_config`), and
AutoModelForCausalLM loads the text model, whose config says `qwen3_5_text`; both name this adapter."""

from hybrid_retrieval.models.base import FamilyAdapter

ADAPTER = FamilyAdapter(
    family="qwen3_5",
    model_types=("qwen3_5", "qwen3_5_text"),
    attention=("Qwen3_5Attention",),
    mixers=("Qwen3_5GatedDeltaNet",),
)
