"""Tokenisation that keeps character offsets and windows long contexts instead of cutting them.

One input (question + context) becomes one or more windows; `example_index` maps each window back
to its input. Span heads read every window; pooled and generative heads merge an input's windows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerBase

# segment ids: which part of the input a token comes from
SEG_SPECIAL, SEG_QUESTION, SEG_CONTEXT = 0, 1, 2
FIELD_OF_SEGMENT = {SEG_QUESTION: "question", SEG_CONTEXT: "context"}


@dataclass
class Encoding:
    input_ids: torch.Tensor  # [W, T] W windows over all inputs
    attention_mask: torch.Tensor  # [W, T]
    token_type_ids: torch.Tensor  # [W, T]
    offsets: torch.Tensor  # [W, T, 2] character offsets into the token's field
    segments: torch.Tensor  # [W, T] SEG_* ids
    example_index: torch.Tensor  # [W] which input each window belongs to
    questions: list[str]
    contexts: list[str]
    windows_per_input: list[int] = field(default_factory=list)
    question_truncated: list[bool] = field(default_factory=list)

    @property
    def num_inputs(self) -> int:
        return len(self.contexts)

    def to(self, device: torch.device | str) -> "Encoding":
        for name in ("input_ids", "attention_mask", "token_type_ids", "offsets", "segments", "example_index"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def model_inputs(self) -> dict[str, torch.Tensor]:
        return {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "token_type_ids": self.token_type_ids,
        }


def encode(
    tokenizer: PreTrainedTokenizerBase,
    questions: Sequence[str],
    contexts: Sequence[str],
    max_length: int = 256,
    stride: int = 64,
    max_question_tokens: int = 64,
) -> Encoding:
    """Encode (question, context) pairs; a context longer than the window is split with `stride`
    tokens of overlap. An empty question gives [CLS] [SEP] context [SEP]."""
    if len(questions) != len(contexts):
        raise ValueError(f"{len(questions)} questions but {len(contexts)} contexts")
    if max_length < max_question_tokens + 16:
        raise ValueError(f"max_length={max_length} leaves no room for a context after {max_question_tokens} question tokens")
    # Cut over-long questions first so every window keeps room for context; say so per input.
    questions, question_truncated = _clip_questions(tokenizer, list(questions), max_question_tokens)
    # The Rust tokenizer itself, then NumPy arrays built once per field: transformers' own batch
    # call wraps the same encode_batch in per-window dicts and nested-list conversions that cost
    # more host CPU than the tokenising (docs/service.md, host cost). Same settings, same tokens:
    # truncate the context only, overflow into windows with `stride` tokens of overlap, pad to the
    # longest window, to a multiple of 8 (fewer distinct shapes: kernels and plans cached per
    # shape are reused more often).
    backend = _pair_backend(tokenizer, max_length, stride)
    windows: list = []
    mapping_list: list[int] = []
    for i, first in enumerate(backend.encode_batch(list(zip(questions, contexts)))):
        for window in (first, *first.overflowing):
            windows.append(window)
            mapping_list.append(i)
    input_ids = torch.from_numpy(np.array([w.ids for w in windows], dtype=np.int64))
    attention_mask = torch.from_numpy(np.array([w.attention_mask for w in windows], dtype=np.int64))
    offsets = torch.from_numpy(np.array([w.offsets for w in windows], dtype=np.int64).reshape(len(windows), -1, 2))
    # Which sequence a token comes from: 0 the question, 1 the context; None (-1) specials and padding.
    sequence = np.array([[-1 if s is None else s for s in w.sequence_ids] for w in windows], dtype=np.int64)
    segments = torch.from_numpy(np.select([sequence == 0, sequence == 1], [SEG_QUESTION, SEG_CONTEXT], SEG_SPECIAL))
    if "token_type_ids" in tokenizer.model_input_names:
        # BERT-style pairs: type 0 is [CLS] question [SEP], type 1 is context [SEP].
        token_type_ids = torch.from_numpy(np.array([w.type_ids for w in windows], dtype=np.int64))
    else:
        token_type_ids = torch.zeros_like(input_ids)
    mapping = torch.tensor(mapping_list, dtype=torch.long)
    windows_per_input = torch.bincount(mapping, minlength=len(contexts)).tolist()
    return Encoding(
        input_ids=input_ids,
        attention_mask=attention_mask,
        token_type_ids=token_type_ids,
        offsets=offsets,
        segments=segments,
        example_index=mapping,
        questions=questions,
        contexts=list(contexts),
        windows_per_input=windows_per_input,
        question_truncated=question_truncated,
    )


def _pair_backend(tokenizer: PreTrainedTokenizerBase, max_length: int, stride: int) -> Tokenizer:
    """The tokenizer's Rust backend set to window (question, context) pairs this way."""

    def windows(backend: Tokenizer) -> None:
        backend.enable_truncation(max_length, stride=stride, strategy="only_second")
        backend.enable_padding(direction=tokenizer.padding_side, pad_id=tokenizer.pad_token_id,
                               pad_type_id=tokenizer.pad_token_type_id, pad_token=tokenizer.pad_token, pad_to_multiple_of=8)

    return _backend(tokenizer, ("pairs", max_length, stride), windows)


def _backend(tokenizer: PreTrainedTokenizerBase, key: tuple, configure: Callable[[Tokenizer], None]) -> Tokenizer:
    """A copy of the tokenizer's Rust backend, configured once per `key` and kept on the tokenizer.
    A copy because truncation and padding are state of the backend: the tokenizer's own calls (which
    set theirs each time) and these never change each other's."""
    cache = tokenizer.__dict__.setdefault("_wiyh_backends", {})
    backend = cache.get(key)
    if backend is None:
        backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
        backend.no_truncation()
        backend.no_padding()
        configure(backend)
        cache[key] = backend
    return backend


def _clip_questions(
    tokenizer: PreTrainedTokenizerBase, questions: list[str], max_tokens: int
) -> tuple[list[str], list[bool]]:
    plain = _backend(tokenizer, ("plain",), lambda backend: None)
    clipped, truncated = [], []
    for q, encoded in zip(questions, plain.encode_batch(questions, add_special_tokens=False)):
        offs = encoded.offsets
        cut = len(offs) > max_tokens
        clipped.append(q[: offs[max_tokens - 1][1]] if cut else q)
        truncated.append(cut)
    return clipped, truncated
