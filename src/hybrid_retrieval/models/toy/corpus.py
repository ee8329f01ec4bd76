"""The toys' training sequences: needle-test prompts in the exact `build_prompt` frames (answer-only loss),
a compact short-context format, fact sentences and MMLU-format questions."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from transformers import PreTrainedTokenizerBase

from hybrid_retrieval.errors import ConfigError
from hybrid_retrieval.models.toy.recipe import ToyTrainConfig
from hybrid_retrieval.tasks import mmlu
from hybrid_retrieval.tasks.mmlu import MCQuestion
from hybrid_retrieval.tasks.prompts import ANSWER_PREFIX, build_prompt
from hybrid_retrieval.tasks.synthetic import MC_SPLITS, SUBJECTS, SyntheticLanguage


@dataclass
class _Example:
    input_ids: list[int]
    labels: list[int]  # -100 where no loss

    def add(self, ids: Sequence[int], supervised: bool) -> None:
        self.input_ids += ids
        self.labels += list(ids) if supervised else [-100] * len(ids)


class ToyCorpus:
    """Training sequences: needle-test prompts (answer-only loss) and knowledge (facts, MC questions)."""

    def __init__(
        self, language: SyntheticLanguage, tokenizer: PreTrainedTokenizerBase, config: ToyTrainConfig
    ):
        self.language, self.tok, self.config = language, tokenizer, config
        self.answer_tokens = ["Answer", ":"]
        self.mc_facts = [f for f in language.facts if f.split in config.mc_train_splits]
        self.exported = {q for split in MC_SPLITS for q in language.mc_questions(split)}

    def ids(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False).input_ids

    def batch(
        self, rng: random.Random, length: int, knowledge_fraction: float | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """[batch, length] input ids and labels, right-padded (harmless for a causal model's loss); a share
        `knowledge_fraction` (default: the config's) of the sequences are knowledge sequences."""
        if knowledge_fraction is None:
            knowledge_fraction = self.config.knowledge_fraction
        examples = []
        compact = length < self.config.compact_below
        for _ in range(max(1, self.config.tokens_per_step // length)):
            if rng.random() < knowledge_fraction:
                examples.append(self.knowledge_example(rng, length))
            elif compact:
                examples.append(self.compact_example(rng, length))
            else:
                examples.append(self.retrieval_example(rng, length))
        pad = self.tok.pad_token_id
        input_ids = torch.tensor([e.input_ids + [pad] * (length - len(e.input_ids)) for e in examples])
        labels = torch.tensor([e.labels + [-100] * (length - len(e.labels)) for e in examples])
        return input_ids, labels

    def compact_example(self, rng: random.Random, length: int) -> _Example:
        """Needles in filler, then questions each followed by its needle sentence, with no prompt frame.

        The short-context stage: as many answer tokens per sequence as fit, so the copy circuit (find
        the question's city in the context, continue with what followed it there) forms before the
        long framed prompts, where it is needed but rare per token."""
        n_needles = rng.randint(1, self.config.max_needles)
        while True:
            needles = self.language.needles(rng, n_needles)
            asked = rng.sample(needles, rng.randint(1, min(n_needles, self.config.max_questions)))
            qa = [(self.ids(n.question), self.ids(n.sentence)) for n in asked]
            used = 1 + sum(len(self.ids(n.sentence)) for n in needles) + sum(len(q) + len(a) for q, a in qa)
            if used <= length:
                break
            if n_needles == 1:
                raise ConfigError(f"sequence length {length} cannot hold one needle and its question")
            n_needles -= 1
        sentences = self.language.haystack_sentences(rng, length - used)
        for needle in needles:
            sentences.insert(rng.randint(0, len(sentences)), needle.sentence.split())
        example = _Example([self.tok.bos_token_id], [-100])
        example.add(self.ids(" ".join(w for s in sentences for w in s)), False)
        for question, answer in qa:
            example.add(question, False)
            example.add(answer, True)
        return example

    def retrieval_example(self, rng: random.Random, length: int) -> _Example:
        variants, weights = zip(*self.config.variant_weights, strict=True)
        variant = rng.choices(variants, weights)[0]
        n_needles = rng.randint(1, self.config.max_needles)
        while True:
            needles = self.language.needles(rng, n_needles)
            asked = rng.sample(needles, rng.randint(1, min(n_needles, self.config.max_questions)))
            example = self._retrieval_tokens(variant, needles, asked, [])
            if len(example.input_ids) <= length:
                break
            # Too long for this length: fewer needles, then the plain frame (JRT doubles the context).
            if n_needles > 1:
                n_needles -= 1
            elif variant != "base":
                variant = "base"
            else:
                raise ConfigError(f"sequence length {length} cannot hold one needle and the prompt frame")
        repeats = 2 if variant.endswith("jrt") else 1
        filler = self.language.haystack_sentences(rng, (length - len(example.input_ids)) // repeats)
        return self._retrieval_tokens(variant, needles, asked, filler, rng)

    def _retrieval_tokens(
        self, variant, needles, asked, filler, rng: random.Random | None = None
    ) -> _Example:
        sentences = [list(s) for s in filler]
        for needle in needles:  # each needle goes to a random sentence boundary
            position = rng.randint(0, len(sentences)) if rng is not None else len(sentences)
            sentences.insert(position, needle.sentence.split())
        context = " ".join(w for s in sentences for w in s)
        example = _Example([], [])
        example.add(self.tok(build_prompt(context, asked[0].question, variant, self.tok)).input_ids, False)
        example.add(self.ids(asked[0].sentence), True)
        # Follow-up questions reuse the frame without the context: more answer tokens per sequence.
        for needle in asked[1:]:
            example.add(self.ids(f"QUESTION: {needle.question} {ANSWER_PREFIX}"), False)
            example.add(self.ids(needle.sentence), True)
        example.add([self.tok.eos_token_id], True)
        return example

    def _fits(self, question: MCQuestion, length: int) -> bool:
        """Whether `question` asked 0-shot (with its answer) fits in `length` tokens."""
        prompt = mmlu.format_prompt(question, [], subject=question.subject) + " " + question.answer
        return len(self.tok(prompt).input_ids) <= length

    def knowledge_example(self, rng: random.Random, length: int) -> _Example:
        """Fact text with full LM loss, or (share `mc_share`) a packed MC prompt, answer letters supervised.

        Facts come as statements and as question + answer ("what is the capital of k ? v ."), the MC
        question text being the same. An MC sequence is lm-eval's few-shot prompt whose shots are fresh
        questions (random facts of one subject, random choices and order): every shot is a new supervised
        item, where the fixed dev shots would only be memorised. The exported items are never drawn."""
        example = _Example([self.tok.bos_token_id], [-100])
        subject = rng.choice(list(SUBJECTS))
        facts = [f for f in self.mc_facts if f.subject == subject]
        drawn = []
        for _ in range(6):
            fact = rng.choice(facts)
            drawn.append((fact, self.language.mc_question(fact, rng, exclude=self.exported)))
        questions = [q for _, q in drawn]
        if rng.random() >= self.config.mc_share or not self._fits(questions[0], length):
            while True:
                fact = rng.choice(self.language.facts)
                ids = self.ids(rng.choice((fact.sentence, f"{fact.question} {fact.value} .")))
                if len(example.input_ids) + len(ids) > length:
                    return example
                example.add(ids, True)
        if self.config.mc_open_book and rng.random() < self.config.mc_open_book:
            # Open book: each question preceded by its fact, so the value can be read in the context.
            open_book = [replace(q, question=f"{f.sentence} {q.question}") for f, q in drawn]
            if self._fits(open_book[0], length):
                questions = open_book
        for shots in range(5, -1, -1):  # as many shots as fit, up to MMLU's 5
            prompt = mmlu.format_prompt(questions[shots], questions[:shots], subject=subject)
            ids = self.tok(prompt + " " + questions[shots].answer).input_ids
            if len(ids) <= length:
                break
        # Supervise every answer letter (the shots' and the question's), as the tokens after "Answer :".
        answer_id, colon_id = self.tok.convert_tokens_to_ids(self.answer_tokens)
        labels = [-100] * len(ids)
        for i in range(2, len(ids)):
            if ids[i - 2] == answer_id and ids[i - 1] == colon_id:
                labels[i] = ids[i]
        return _Example(ids, labels)
