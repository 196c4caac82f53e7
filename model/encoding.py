"""Tokenisation that keeps character offsets and windows long contexts instead of cutting them.

One input (question + context) becomes one or more windows; `example_index` maps each window back
to its input. Span heads read every window; pooled and generative heads merge an input's windows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
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
    batch = tokenizer(
        questions,
        list(contexts),
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        padding="longest",
        # Fewer distinct shapes: kernels and plans cached per shape are reused more often.
        pad_to_multiple_of=8,
        # NumPy, then torch without a copy: transformers' own "pt" conversion builds each tensor
        # from nested Python lists, which cost more host CPU than the tokenising itself
        # (docs/service.md, host cost).
        return_tensors="np",
    )
    tensors = {name: torch.from_numpy(array) for name, array in batch.items()}
    mapping = tensors.pop("overflow_to_sample_mapping")
    special = tensors.pop("special_tokens_mask").bool() | (tensors["attention_mask"] == 0)
    token_type_ids = tensors.get("token_type_ids")
    if token_type_ids is not None:
        # BERT-style pairs: type 0 is [CLS] question [SEP], type 1 is context [SEP].
        segments = torch.where(token_type_ids == 0, SEG_QUESTION, SEG_CONTEXT).masked_fill(special, SEG_SPECIAL)
    else:
        token_type_ids = torch.zeros_like(tensors["input_ids"])
        segments = _segments_from_sequence_ids(batch)
    windows_per_input = torch.bincount(mapping, minlength=len(contexts)).tolist()
    return Encoding(
        input_ids=tensors["input_ids"],
        attention_mask=tensors["attention_mask"],
        token_type_ids=token_type_ids,
        offsets=tensors["offset_mapping"],
        segments=segments,
        example_index=mapping,
        questions=questions,
        contexts=list(contexts),
        windows_per_input=windows_per_input,
        question_truncated=question_truncated,
    )


def _segments_from_sequence_ids(batch) -> torch.Tensor:
    """Segments for tokenizers without token types (e.g. RoBERTa), from the slower per-token map."""
    num_windows, length = batch["input_ids"].shape
    segments = torch.zeros((num_windows, length), dtype=torch.long)
    for w in range(num_windows):
        for t, seq in enumerate(batch.sequence_ids(w)):
            if seq is not None:
                segments[w, t] = SEG_QUESTION if seq == 0 else SEG_CONTEXT
    return segments


def _clip_questions(
    tokenizer: PreTrainedTokenizerBase, questions: list[str], max_tokens: int
) -> tuple[list[str], list[bool]]:
    offsets = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    clipped, truncated = [], []
    for q, offs in zip(questions, offsets):
        cut = len(offs) > max_tokens
        clipped.append(q[: offs[max_tokens - 1][1]] if cut else q)
        truncated.append(cut)
    return clipped, truncated
