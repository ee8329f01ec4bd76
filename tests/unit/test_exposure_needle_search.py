"""What the authors' exposure needle search finds in their own stored prompts (deviations table, "Needle span
for exposure"): NIAH@2e34c21 `RecurrentGemma.find_needle` = the SentencePiece ids of the config's needle
string without their first and last token, searched in the prompt's ids without the BOS. Checked with the
real Gemma tokenizer (the `gemma_tokenizer` fixture) on all 200 stored RecurrentGemma prompts."""

from __future__ import annotations

import pytest
from test_golden_prompts import NAMES, _stored, _variant

from hybrid_retrieval.tasks.haystack import PAPER_NEEDLE
from hybrid_retrieval.tasks.niah import find_needle_spans

CONFIG_NEEDLE = "\n" + PAPER_NEEDLE + "\n"  # every config of theirs (pred.py reads config["prompt"]["needle"])


def _their_find_needle(tokenizer, needle: str, prompt: str) -> list[int] | None:
    needle_ids = tokenizer(needle, add_special_tokens=False)["input_ids"][1:-1]
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    for i in range(len(prompt_ids) - len(needle_ids) + 1):
        if prompt_ids[i : i + len(needle_ids)] == needle_ids:
            return list(range(i, i + len(needle_ids)))
    return None


@pytest.mark.parametrize("name", NAMES)
def test_their_search_misses_every_base_prompt_and_is_one_token_early_in_jrt(name: str, gemma_tokenizer) -> None:
    stored = _stored()[name]
    found = _their_find_needle(gemma_tokenizer, CONFIG_NEEDLE, stored["content"])
    ours = find_needle_spans(
        gemma_tokenizer,
        stored["content"],
        gemma_tokenizer(stored["content"])["input_ids"],
        PAPER_NEEDLE,
        2 if _variant(name) == "jrt" else 1,
    )
    assert ours  # we locate the needle in every stored prompt (every copy)
    if _variant(name) == "base":
        # their prompts carry "\n The" ("▁The"); the config string's ids start with "The": not found,
        # so an exposure run on these prompts would have run unmanipulated
        assert found is None
        assert _their_find_needle(gemma_tokenizer, stored["needle"], stored["content"]) is not None
    else:
        # found (the first copy): as positions of the model input (BOS first) it is one token early
        start, end = ours[0]
        assert found == list(range(start - 1, end - 1))
