"""The authors' prompt frames for the needle test (lamalunderscore/NIAH `prompt.py`, config.yaml).

- `base` (RecurrentGemma): `CONTEXT: {ctx}\n\nQUESTION: {q}\n\nANSWER: Here is the most relevant sentence
  in the context: `; the answer prefix is part of the prompt, so generation starts at the sentence.
- `jrt` (Just Read Twice): the CONTEXT+QUESTION block twice, joined by a blank line, then the prefix.
- `chat` (Jamba): the user message is the block whose question carries the suffix "Here is the most
  relevant sentence in the context:" (the authors' Jamba config puts it in `retrieval_question`), then
  " Output the most relevant sentence in the context, word by word!"; it goes through the tokenizer's chat
  template with `add_generation_prompt=True` and **nothing is pre-filled in the assistant turn**.
- `chat_jrt`: the block (with the suffixed question) twice, then the instruction once.
"""

from __future__ import annotations

from typing import Literal

from hybrid_retrieval.errors import ConfigError

# Bump when any frame's text changes: every result row carries it, so cached rows never mix frames.
PROMPT_VERSION = "v2"  # v2: the authors' chat frame (no assistant prefill), instruction once in chat_jrt

PromptVariant = Literal["base", "jrt", "chat", "chat_jrt"]
PROMPT_VARIANTS: tuple[str, ...] = ("base", "jrt", "chat", "chat_jrt")

ANSWER_PREFIX = "ANSWER: Here is the most relevant sentence in the context:"
CHAT_INSTRUCTION = "Output the most relevant sentence in the context, word by word!"
# The authors' Jamba question ends with this sentence (NIAH@4a65fbc config.yaml `retrieval_question`).
CHAT_QUESTION_SUFFIX = "Here is the most relevant sentence in the context:"


def context_block(context: str, question: str) -> str:
    return f"CONTEXT: {context}\n\nQUESTION: {question}"


def chat_user_message(context: str, question: str, *, repeats: int = 1) -> str:
    """The authors' Jamba user message: the block(s) with the suffixed question, the instruction once."""
    block = context_block(context, f"{question} {CHAT_QUESTION_SUFFIX}")
    return "\n\n".join([block] * repeats) + f" {CHAT_INSTRUCTION}"


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
    user = chat_user_message(context, question, repeats=repeats)
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True
    )
