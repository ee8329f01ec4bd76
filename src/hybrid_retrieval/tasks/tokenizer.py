"""The word-level tokenizer of the toy models and the synthetic language, built with `tokenizers` and saved so
`AutoTokenizer` loads it.

One token per word or punctuation mark: whitespace (newlines included) only separates tokens, each
punctuation character is its own token, and decoding joins tokens with single spaces. The post-processor
prepends [BOS], so `tokenizer(text).input_ids` are exactly the model inputs, as with Gemma's tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

UNK, PAD, BOS, EOS = "[UNK]", "[PAD]", "[BOS]", "[EOS]"
# Chat turn markers are added (special) tokens, so they never collide with words and survive pre-tokenizing.
USER, ASSISTANT, SYSTEM, END_OF_TURN = "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"
SPECIAL_TOKENS: tuple[str, ...] = (UNK, PAD, BOS, EOS)
CHAT_TOKENS: tuple[str, ...] = (SYSTEM, USER, ASSISTANT, END_OF_TURN)

# A minimal Jinja chat template: enough to run the paper's chat prompt variants on the toys.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|> {{ message['content'] }} <|end|> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)


def word_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """Split on whitespace, then isolate every punctuation character ("):" -> ")", ":")."""
    return pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(behavior="isolated")]
    )


_PRE_TOKENIZER = word_pre_tokenizer()


def split_words(text: str) -> list[str]:
    """The tokens a text becomes (without specials): the single definition of a 'word' for the toys."""
    return [piece for piece, _ in _PRE_TOKENIZER.pre_tokenize_str(text)]


def build_word_tokenizer(words: Iterable[str]) -> PreTrainedTokenizerFast:
    """A PreTrainedTokenizerFast over `words` (deduplicated, order kept after the special tokens)."""
    vocab: dict[str, int] = {}
    for token in (*SPECIAL_TOKENS, *CHAT_TOKENS, *words):
        vocab.setdefault(token, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.pre_tokenizer = word_pre_tokenizer()
    backend.add_special_tokens(list(SPECIAL_TOKENS + CHAT_TOKENS))
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
    )
    # No decoder: the tokenizers library then joins tokens with single spaces, which is what we want.
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=list(CHAT_TOKENS),
        clean_up_tokenization_spaces=False,
        model_max_length=1 << 20,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer
