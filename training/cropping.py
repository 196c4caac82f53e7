"""Training rows of long contexts cut to a window of the context that holds the answer.

On a CPU a step's cost is the backbone's forward and backward over every token of the batch
(training/train.py); a real SQuAD paragraph is ~160 word pieces, a few are over 500 and become
several windows, most of which only teach "not in this window". Cutting a training row to a
window of N context tokens around its answer, at a random place, trains the span head on the same
kind of evidence for fewer tokens. Evaluation and serving read whole contexts, windowed as usual.
"""
from __future__ import annotations

import dataclasses
import random
from typing import Mapping

from transformers import PreTrainedTokenizerBase

from model.example import Example, Span

# Metadata of an example that points into its whole context (sentence indices and offsets): it
# no longer matches a cropped one, so a cropped row keeps only the rest.
POSITIONAL_EXTRA = ("sentence_spans", "answer_sentence", "steer_sentence", "summary_sentence")


class ContextCropper:
    """Cuts the context of an example of a task in `max_tokens` (task -> context tokens) to at most
    that many tokens around its answer spans; other examples, and those whose context already fits
    or whose answer spans lie further apart than the window, pass unchanged."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, max_tokens: Mapping[str, int], seed: int = 0):
        self.tokenizer = tokenizer
        self.max_tokens = dict(max_tokens)
        self.seed = seed
        self._offsets: dict[str, list[tuple[int, int]]] = {}  # contexts repeat: ~5 questions each

    def crop_batch(self, examples: list[Example], step: int) -> list[Example]:
        # Seeded by step and row, as the sampler is: a resumed run cuts the same windows.
        rng = random.Random(self.seed * 1_000_003 + step)
        return [self.crop(example, rng) for example in examples]

    def crop(self, example: Example, rng: random.Random) -> Example:
        limit = self.max_tokens.get(example.task)
        if limit is None or not example.answer_spans:
            return example
        offsets = self._token_offsets(example.context)
        if len(offsets) <= limit:
            return example
        first = min(_token_at(offsets, s.start) for s in example.answer_spans)
        last = max(_token_at(offsets, s.end - 1) for s in example.answer_spans)
        if last - first + 1 > limit:
            return example
        begin = rng.randint(max(0, last - limit + 1), min(first, len(offsets) - limit))
        end = begin + limit - 1
        # Whole words only: a window that starts or ends inside a word would show a fragment.
        while begin < first and not _starts_word(example.context, offsets[begin][0]):
            begin += 1
        while end > last and not _ends_word(example.context, offsets[end][1]):
            end -= 1
        return _cut(example, offsets[begin][0], offsets[end][1])

    def _token_offsets(self, context: str) -> list[tuple[int, int]]:
        if context not in self._offsets:
            encoded = self.tokenizer(context, add_special_tokens=False, return_offsets_mapping=True)
            self._offsets[context] = [tuple(o) for o in encoded["offset_mapping"]]
        return self._offsets[context]


def _token_at(offsets: list[tuple[int, int]], char: int) -> int:
    """The token holding character `char` (or the first one after it, for a space)."""
    for index, (start, end) in enumerate(offsets):
        if char < end:
            return index
    return len(offsets) - 1


def _starts_word(text: str, char: int) -> bool:
    return char == 0 or not text[char - 1].isalnum() or not text[char].isalnum()


def _ends_word(text: str, char: int) -> bool:
    return char >= len(text) or not text[char].isalnum() or not text[char - 1].isalnum()


def _cut(example: Example, start: int, end: int) -> Example:
    def inside(spans: list[Span]) -> list[Span]:
        return [dataclasses.replace(s, start=s.start - start, end=s.end - start) if s.field == "context" else s
                for s in spans if s.field != "context" or (start <= s.start and s.end <= end)]

    extra = {k: v for k, v in example.extra.items() if k not in POSITIONAL_EXTRA}
    return dataclasses.replace(
        example, context=example.context[start:end], answer_spans=inside(example.answer_spans),
        argument_spans=inside(example.argument_spans), evidence_spans=inside(example.evidence_spans),
        extra={**extra, "cropped": [start, end]},
    )
