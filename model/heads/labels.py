"""Character spans <-> token positions, shared by the span and tagging heads: where words start
and end, so spans are labelled and decoded over whole words, never inside one."""
from __future__ import annotations

from typing import Any

import torch

from model.encoding import FIELD_OF_SEGMENT, SEG_CONTEXT, SEG_QUESTION
from model.example import span_supervision


def _inside_word(text: str, cut: int) -> bool:
    """Whether a cut before character `cut` splits a word ("Chaz" at 3, "1974" at 2)."""
    return 0 < cut < len(text) and text[cut - 1].isalnum() and text[cut].isalnum()


def word_edges(batch: Any, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(starts_word, ends_word), two bool [T] tensors: whether a token of `window` is the first /
    last sub-token of a word of its field. Special tokens and padding are neither."""
    segments = batch.segments[window].tolist()
    offsets = batch.offsets[window].tolist()
    example = int(batch.example_index[window])
    texts = {"question": batch.questions[example], "context": batch.contexts[example]}
    starts, ends = [False] * len(segments), [False] * len(segments)
    for t, (seg, (s, e)) in enumerate(zip(segments, offsets)):
        field = FIELD_OF_SEGMENT.get(seg)
        if field is None or e <= s:
            continue
        starts[t] = not _inside_word(texts[field], s)
        ends[t] = not _inside_word(texts[field], e)
    device = batch.segments.device
    return torch.tensor(starts, device=device), torch.tensor(ends, device=device)


def token_span(batch: Any, window: int, span: Any) -> tuple[int, int] | None:
    """First and last token of `window` covering span.start..span.end in span.field, widened to
    whole words (the same units decoding returns), or None if the window does not hold it all."""
    want = SEG_CONTEXT if span.field == "context" else SEG_QUESTION
    seg = batch.segments[window].tolist()
    offsets = batch.offsets[window].tolist()
    first = last = None
    for t, (s, e) in enumerate(offsets):
        if seg[t] != want or e <= s:
            continue
        if s < span.end and e > span.start:
            if first is None:
                first = t
            last = t
    if first is None:
        return None
    # The span must start and end inside this window, not be cut by the window's edge.
    if offsets[first][0] > span.start or offsets[last][1] < span.end:
        return None
    starts, ends = word_edges(batch, window)
    while not starts[first] and first > 0 and seg[first - 1] == want:
        first -= 1
    while not ends[last] and last + 1 < len(seg) and seg[last + 1] == want:
        last += 1
    if not (starts[first] and ends[last]):
        return None  # the word runs past the window's edge
    return first, last


def number_in_passage(example: Any) -> bool:
    """Whether a number answer stands in the passage rather than being computed (GenBERT sends
    those to the span head). The generator knows the operation; a real-format example (no
    operation) falls back to whether the answer stands verbatim in the passage at all."""
    if example.operation is not None:
        return example.operation in ("max", "min", "identity")
    return bool(span_supervision(example))
