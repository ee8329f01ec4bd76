"""The paper's prompt frames for the needle test (PAPER.md, "The retrieval task").

`base` is the frame for base models; `jrt` (Just Read Twice) repeats the CONTEXT+QUESTION block before the
answer prefix; `chat` and `chat_jrt` wrap the same text in the tokenizer's chat template with the paper's
"word by word" instruction. The answer prefix is part of the prompt, so generation starts at the sentence.
"""

from __future__ import annotations

from typing import Literal

from hybrid_retrieval.errors import ConfigError

# Bump when any frame's text changes: every result row carries it, so cached rows never mix frames.
PROMPT_VERSION = "v1"

PromptVariant = Literal["base", "jrt", "chat", "chat_jrt"]
PROMPT_VARIANTS: tuple[str, ...] = ("base", "jrt", "chat", "chat_jrt")

ANSWER_PREFIX = "ANSWER: Here is the most relevant sentence in the context:"
CHAT_INSTRUCTION = "Output the most relevant sentence in the context, word by word!"


def context_block(context: str, question: str, *, instruction: str | None = None) -> str:
    q = question if instruction is None else f"{question} {instruction}"
    return f"CONTEXT: {context}\n\nQUESTION: {q}"


def build_prompt(context: str, question: str, variant: str, tokenizer=None) -> str:
    """The full prompt text for one trial; the model's answer is expected right after it."""
    if variant not in PROMPT_VARIANTS:
        raise ConfigError(f"unknown prompt variant {variant!r}; choose one of {', '.join(PROMPT_VARIANTS)}")
    repeats = 2 if variant.endswith("jrt") else 1
    if not variant.startswith("chat"):
        block = context_block(context, question)
        return "\n\n".join([block] * repeats) + f"\n\n{ANSWER_PREFIX} "
    if tokenizer is None or getattr(tokenizer, "chat_template", None) is None:
        raise ConfigError(
            f"prompt variant {variant!r} needs a tokenizer with a chat template; "
            "use 'base' or 'jrt' for base models"
        )
    block = context_block(context, question, instruction=CHAT_INSTRUCTION)
    user = "\n\n".join([block] * repeats)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True
    )
    return text + ANSWER_PREFIX.removeprefix("ANSWER: ") + " "
