"""Decoding span outputs for a whole batch at once: what the span and tagging heads' `decode`
share, written so the host pays once per batch, not once per window, token or candidate.

Measured (docs/service.md, Speed): decoding read the batch's tensors element by element (each
`int(tensor[...])` is a dispatch, and on a GPU a device sync), recomputed every window's word
edges in each head, and scored each window's spans with its own top-k. Here:

- the tensors a decode reads (segments, offsets, window -> input) come to the host in one copy
  per batch, and the word edges are computed once from them; the heads of one batch share both
  (`host_view`, kept on the batch);
- span scores of every window are one [W, T, max_answer_tokens] tensor (start x the ends a span
  may reach) and one top-k on the device; only the best candidates' values and positions come
  back, in one copy.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from model.encoding import FIELD_OF_SEGMENT, SEG_SPECIAL

_CACHE = "_host_view"


@dataclass
class HostView:
    """A batch's token bookkeeping as Python lists, one host copy."""

    segments: list[list[int]]  # [W][T]
    offsets: list[list[list[int]]]  # [W][T][2]
    example_index: list[int]  # [W]
    starts_word: list[list[bool]]  # [W][T]: the token is the first sub-token of a word of its field
    ends_word: list[list[bool]]  # [W][T]: ... the last one
    questions: list[str]
    contexts: list[str]

    def windows_of(self, input_index: int) -> list[int]:
        return [w for w, ex in enumerate(self.example_index) if ex == input_index]

    def field_span(self, window: int, start_tok: int, end_tok: int) -> tuple[str, int, int]:
        """(field, first character, end character) of tokens [start_tok, end_tok] of a window."""
        return (FIELD_OF_SEGMENT[self.segments[window][start_tok]], self.offsets[window][start_tok][0],
                self.offsets[window][end_tok][1])

    def text_span(self, window: int, field: str, start: int, end: int) -> dict[str, Any]:
        """The span as a head's output states it: text == <field>[start:end]."""
        source = (self.contexts if field == "context" else self.questions)[self.example_index[window]]
        return {"text": source[start:end], "start": start, "end": end, "field": field}

    def char_span(self, window: int, start_tok: int, end_tok: int) -> dict[str, Any]:
        """HeadBatch.char_span, from the lists."""
        return self.text_span(window, *self.field_span(window, start_tok, end_tok))


def host_view(batch: Any) -> HostView:
    """The batch's HostView, made on first use and kept on the batch for the other heads."""
    view = getattr(batch, _CACHE, None)
    if view is None:
        segments, offsets = batch.segments.tolist(), batch.offsets.tolist()
        example_index = batch.example_index.tolist()
        starts, ends = _word_edges(segments, offsets, example_index, batch.questions, batch.contexts)
        view = HostView(segments, offsets, example_index, starts, ends, list(batch.questions), list(batch.contexts))
        setattr(batch, _CACHE, view)
    return view


def _word_edges(segments, offsets, example_index, questions, contexts) -> tuple[list[list[bool]], list[list[bool]]]:
    """labels.word_edges for every window: a cut before character c splits a word when the
    characters on both sides of it are letters or digits."""
    alnum: dict[tuple[str, int], list[bool]] = {}
    all_starts, all_ends = [], []
    for segs, offs, ex in zip(segments, offsets, example_index):
        starts, ends = [False] * len(segs), [False] * len(segs)
        for t, (seg, (s, e)) in enumerate(zip(segs, offs)):
            field = FIELD_OF_SEGMENT.get(seg)
            if field is None or e <= s:
                continue
            key = (field, ex)
            flags = alnum.get(key)
            if flags is None:
                text = (contexts if field == "context" else questions)[ex]
                flags = alnum[key] = [c.isalnum() for c in text]
            n = len(flags)
            starts[t] = not (0 < s < n and flags[s - 1] and flags[s])
            ends[t] = not (0 < e < n and flags[e - 1] and flags[e])
        all_starts.append(starts)
        all_ends.append(ends)
    return all_starts, all_ends


def decode_spans(batch: Any, start_logits: torch.Tensor, end_logits: torch.Tensor, max_len: int, top_k: int) -> list[dict[str, Any]]:
    """Per input: the best whole-word span over all its windows and the next best `top_k - 1`
    that do not overlap it (SpanHead.decode). A span's score is p(start) * p(end), the
    probabilities taken over its window; spans cross no segment and are at most `max_len` tokens."""
    view = host_view(batch)
    num_windows, length = start_logits.shape
    device = start_logits.device
    width = min(max_len, length)  # a span is at most max_len tokens: only ends s .. s + width - 1 are scored

    def ahead(x: torch.Tensor, fill) -> torch.Tensor:
        """[W, T] -> [W, T, width]: x[w, s + d] at [w, s, d] (fill past the window's end)."""
        return torch.nn.functional.pad(x, (0, width - 1), value=fill).unfold(1, width, 1)

    start_p = start_logits.float().softmax(-1)
    end_p = end_logits.float().softmax(-1)
    scores = start_p[:, :, None] * ahead(end_p, 0.0)  # [W, T, width]: start s, end s + d
    seg = batch.segments
    starts_word = torch.tensor(view.starts_word, dtype=torch.bool, device=device).view(num_windows, length)
    ends_word = torch.tensor(view.ends_word, dtype=torch.bool, device=device).view(num_windows, length)
    # The end stays in the start's segment (past the window's end the fill is SEG_SPECIAL, never
    # equal to a real one); a span a person reads starts and ends on whole words.
    valid = (seg[:, :, None] == ahead(seg, SEG_SPECIAL)) & (seg[:, :, None] != SEG_SPECIAL)
    valid &= starts_word[:, :, None] & ahead(ends_word, False)
    flat = scores.masked_fill(~valid, -1.0).reshape(num_windows, -1)
    # The best spans mostly overlap the best one ("Omar", "Omar Roberts in"); look deep enough
    # to find top_k that don't.
    top = torch.topk(flat, k=min(50 * top_k, flat.shape[1]), dim=-1)
    values, positions = top.values.tolist(), top.indices.tolist()

    def candidates(w: int) -> Iterator[tuple[float, int, int, int]]:
        for score, pos in zip(values[w], positions[w]):
            if score < 0:
                return
            s, d = divmod(pos, width)
            yield score, w, s, s + d

    windows: list[list[int]] = [[] for _ in range(len(batch.contexts))]
    for w, ex in enumerate(view.example_index):
        windows[ex].append(w)
    results = []
    for ws in windows:
        chosen: list[tuple[float, int, str, int, int]] = []
        # Each window's candidates come best first: merging them (ties: the earlier window first)
        # is the order a stable sort of all of them would give, and stops as soon as top_k are found.
        for score, w, s, e in heapq.merge(*(candidates(w) for w in ws), key=lambda c: -c[0]):
            field, start, end = view.field_span(w, s, e)
            if all(field != f or end <= a or start >= b for _, _, f, a, b in chosen):
                chosen.append((score, w, field, start, end))
                if len(chosen) == top_k:
                    break
        if not chosen:
            results.append({"text": "", "start": 0, "end": 0, "field": "context", "score": 0.0, "alternatives": []})
            continue
        spans = [{**view.text_span(w, field, start, end), "score": float(score)} for score, w, field, start, end in chosen]
        results.append({**spans[0], "alternatives": spans[1:]})
    return results
