"""The toy models' word-level tokenizer: it lives in `hybrid_retrieval.tokenizer`, below both `tasks/` (which
splits words with it) and `models/`; this module keeps the old import path working."""

from hybrid_retrieval.tokenizer import (
    ASSISTANT,
    BOS,
    CHAT_TEMPLATE,
    CHAT_TOKENS,
    END_OF_TURN,
    EOS,
    PAD,
    SPECIAL_TOKENS,
    SYSTEM,
    UNK,
    USER,
    build_word_tokenizer,
    split_words,
    word_pre_tokenizer,
)

__all__ = [
    "ASSISTANT",
    "BOS",
    "CHAT_TEMPLATE",
    "CHAT_TOKENS",
    "END_OF_TURN",
    "EOS",
    "PAD",
    "SPECIAL_TOKENS",
    "SYSTEM",
    "UNK",
    "USER",
    "build_word_tokenizer",
    "split_words",
    "word_pre_tokenizer",
]
