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
  back, in one copy;
- the tagging head's per-token rules (a word takes its first sub-token's tag, B I* runs, a run
  trimmed to its last whole word, the mean tag probability) run on [W, T] arrays in NumPy, and
  Python only writes the spans kept;
- on a CPU, decoding runs with one torch thread (`single_threaded`, around every head's decode).
"""
from __future__ import annotations

import heapq
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch

from model.encoding import FIELD_OF_SEGMENT, SEG_CONTEXT, SEG_QUESTION, SEG_SPECIAL

_CACHE = "_host_view"


@contextmanager
def single_threaded(device: torch.device | str) -> Iterator[None]:
    """Torch ops in the block use one CPU thread (the caller's); on a GPU, nothing changes.

    Why: decoding's tensors are small (a batch's logits, [W, T, 30] span scores), so torch splits
    each op over its thread pool only to wait at the end of it for the other threads; on a busy
    machine they are descheduled and the wait spins. Measured on a 2-core CPU under load
    (a batch of 16, 27 windows, CPU per input): span decoding 1.2-4.4 ms with 2 threads, 0.26-0.45
    with 1. torch's OpenMP build may share the setting between threads, so it is put back on
    leaving, and callers run one batch at a time (service/replica/compute.py)."""
    if torch.device(device).type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@dataclass
class HostView:
    """A batch's token bookkeeping on the host, one copy: NumPy arrays for the per-token work done
    for all windows at once, Python lists for reading single positions (Python ints, which the
    outputs carry)."""

    segments: list[list[int]]  # [W][T]
    offsets: list[list[list[int]]]  # [W][T][2]
    example_index: list[int]  # [W]
    segment_array: np.ndarray  # [W, T] the same segments
    offset_array: np.ndarray  # [W, T, 2] the same offsets
    starts_word: np.ndarray  # [W, T] bool: the token is the first sub-token of a word of its field
    ends_word: np.ndarray  # [W, T] bool: ... the last one
    questions: list[str]
    contexts: list[str]
    # span heads' candidate masks, by the longest span they allow (shared by the span heads of a batch)
    span_masks: dict[int, torch.Tensor] = field(default_factory=dict)

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
        segments, offsets = batch.segments.cpu().numpy(), batch.offsets.cpu().numpy()
        example_index = batch.example_index.tolist()
        starts, ends = _word_edges(segments, offsets, example_index, batch.questions, batch.contexts)
        view = HostView(segments.tolist(), offsets.tolist(), example_index, segments, offsets, starts, ends,
                        list(batch.questions), list(batch.contexts))
        setattr(batch, _CACHE, view)
    return view


# str.isalnum of every ASCII character, to read an ASCII text's flags with one NumPy lookup
_ASCII_ALNUM = np.array([chr(c).isalnum() for c in range(128)])


def _alnum_flags(text: str) -> np.ndarray:
    """[len(text)] bool: which characters are letters or digits (str.isalnum)."""
    if text.isascii():
        return _ASCII_ALNUM[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]
    return np.fromiter((c.isalnum() for c in text), dtype=bool, count=len(text))


def _word_edges(segments: np.ndarray, offsets: np.ndarray, example_index: list[int], questions: list[str],
                contexts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """labels.word_edges for every window at once: a cut before character c splits a word when
    the characters on both sides of it are letters or digits. Special tokens, padding and empty
    tokens are neither a word's start nor its end."""
    flags = [_alnum_flags(t) for t in (*questions, *contexts)]  # text k: question k, context k - len(questions)
    lengths = np.array([len(f) for f in flags])
    bases = np.cumsum(lengths) - lengths  # where each text's flags start in `every`
    every = np.concatenate([*flags, np.zeros(2, dtype=bool)])  # never empty: index 1 exists
    example = np.asarray(example_index, dtype=np.int64)[:, None]
    text = np.where(segments == SEG_QUESTION, example, example + len(questions))
    length, base = lengths[text], bases[text]
    start, end = offsets[..., 0], offsets[..., 1]
    real = ((segments == SEG_QUESTION) | (segments == SEG_CONTEXT)) & (end > start)

    def splits_a_word(cut: np.ndarray) -> np.ndarray:
        inside = real & (cut > 0) & (cut < length)
        at = np.where(inside, base + cut, 1)  # any index that exists where the cut is not inside
        return inside & every[at - 1] & every[at]

    return real & ~splits_a_word(start), real & ~splits_a_word(end)


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
    invalid = view.span_masks.get(width)
    if invalid is None:
        seg = batch.segments
        starts_word = torch.from_numpy(view.starts_word).to(device)
        ends_word = torch.from_numpy(view.ends_word).to(device)
        # The end stays in the start's segment (past the window's end the fill is SEG_SPECIAL, never
        # equal to a real one); a span a person reads starts and ends on whole words.
        valid = (seg[:, :, None] == ahead(seg, SEG_SPECIAL)) & (seg[:, :, None] != SEG_SPECIAL)
        valid &= starts_word[:, :, None] & ahead(ends_word, False)
        invalid = view.span_masks[width] = ~valid
    flat = scores.masked_fill(invalid, -1.0).reshape(num_windows, -1)
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


O, B, I = 0, 1, 2  # BIO tags, as the tagging head numbers them


def decode_tags(batch: Any, logits: torch.Tensor, min_score: float) -> list[dict[str, Any]]:
    """Per input: every span the BIO tags mark, over whole words, question spans first, then by
    start (TaggingHead.decode). A word is tagged as its first sub-token is; a run of B I* stays in
    one segment; its last word, when the window's edge cuts it, is left to the window that holds
    it whole; a span's score is the mean probability of its tokens' tags, and spans under
    `min_score` are dropped. The per-token and per-run work is done for every window at once in
    NumPy; Python only writes the spans kept."""
    view = host_view(batch)
    best = logits.float().softmax(-1).max(-1)
    tags = best.indices.cpu().numpy()
    seg, starts_word = view.segment_array, view.starts_word
    num_windows, length = tags.shape
    position = np.arange(length)
    before = np.concatenate([np.full((num_windows, 1), -1), seg[:, :-1]], axis=1)  # the previous token's segment
    # A word's later sub-tokens take its first one's tag (B or I -> I, O -> O); a sub-token after a
    # segment change or a special token, whose word starts outside the window, is O.
    restart = ~starts_word & ((position == 0) | (seg != before) | (seg == SEG_SPECIAL))
    last = np.maximum.accumulate(np.where(starts_word | restart, position, -1), axis=1)
    word_tag = np.take_along_axis(np.where(starts_word, tags, O), np.maximum(last, 0), axis=1)
    word_tag = np.where(last < 0, O, word_tag)
    word_tags = np.where(starts_word, tags, np.where(word_tag == O, O, I))
    # Runs: a tagged token in a segment; one starts at a B, after an untagged token, or where the segment changes.
    tagged = (seg != SEG_SPECIAL) & (word_tags != O)
    tagged_before = np.concatenate([np.zeros((num_windows, 1), dtype=bool), tagged[:, :-1]], axis=1)
    starts = tagged & ((word_tags == B) | ~tagged_before | (seg != before))
    follows = np.concatenate([starts[:, 1:] | ~tagged[:, 1:], np.ones((num_windows, 1), dtype=bool)], axis=1)
    ends = tagged & follows
    # A run ends at the last whole word it holds.
    last_word_end = np.maximum.accumulate(np.where(view.ends_word, position, -1), axis=1)
    windows, first = np.nonzero(starts)
    final = last_word_end[windows, np.nonzero(ends)[1]]
    whole = final >= first
    windows, first, final = windows[whole], first[whole], final[whole]
    cumulative = np.concatenate([np.zeros((num_windows, 1)), np.cumsum(best.values.double().cpu().numpy(), axis=1)], axis=1)
    score = (cumulative[windows, final + 1] - cumulative[windows, first]) / (final - first + 1)
    passed = score >= min_score
    windows, first, final, score = windows[passed], first[passed], final[passed], score[passed]
    example = np.asarray(view.example_index, dtype=np.int64)[windows]
    segment = seg[windows, first]
    char_start, char_end = view.offset_array[windows, first, 0], view.offset_array[windows, final, 1]
    # Overlapping windows tag the same words twice: each span once, as the first window has it;
    # then per input question spans first, then by start (ties: in window order).
    if len(windows):
        _, once = np.unique(np.stack([example, segment, char_start, char_end], axis=1), axis=0, return_index=True)
        once = once[np.lexsort((once, char_start[once], segment[once] != SEG_QUESTION, example[once]))]
    else:
        once = np.zeros(0, dtype=np.int64)
    results: list[dict[str, Any]] = [{"spans": []} for _ in range(len(view.contexts))]
    for ex, sg, a, b, sc in zip(example[once].tolist(), segment[once].tolist(), char_start[once].tolist(),
                                char_end[once].tolist(), score[once].tolist()):
        source = (view.questions if sg == SEG_QUESTION else view.contexts)[ex]
        results[ex]["spans"].append({"text": source[a:b], "start": a, "end": b, "field": FIELD_OF_SEGMENT[sg], "score": sc})
    return results
