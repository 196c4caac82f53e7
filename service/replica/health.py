"""A replica's self-test: a fixed input through its model, and every number that comes out checked.

Serve calls a deployment's `check_health` every `health_check_period_s`; raising there makes Serve
replace the replica. A dead process is caught by Serve anyway; what this adds is a model that
still runs but answers garbage: weights turned NaN (a bad load, a corrupt upload, a GPU fault),
or activations that overflow to inf. Such a replica keeps answering HTTP 200 with nonsense unless
something looks at the numbers, so the self-test checks the raw outputs (logits, hidden states,
log-probabilities), not the decoded text, where a NaN turns silently into some token or label.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any

import torch

from model.encoding import SEG_CONTEXT, SEG_QUESTION, SEG_SPECIAL
from model.heads import HeadBatch

CANNED_QUESTION = "How many points did the Stallions win by?"
CANNED_CONTEXT = "The Stallions beat the Rangers 24 to 20 in week 10."
# One window: [CLS] question [SEP] context [SEP]; the sizes only need to exercise every segment.
_QUESTION_TOKENS, _CONTEXT_TOKENS = 4, 8


class UnhealthyModel(RuntimeError):
    """The model produced NaN or inf on the canned input; the replica must be replaced."""


def non_finite(output: Any, name: str = "output") -> list[str]:
    """Names of the floating-point tensors (or floats) inside `output` that hold NaN or inf.

    Walks dataclasses (the heads' typed outputs), dicts, lists and tuples."""
    if isinstance(output, torch.Tensor):
        if output.is_floating_point() and output.numel() and not bool(torch.isfinite(output).all()):
            return [name]
        return []
    if isinstance(output, float):
        return [] if torch.isfinite(torch.tensor(output)) else [name]
    if dataclasses.is_dataclass(output) and not isinstance(output, type):
        return [bad for f in dataclasses.fields(output) for bad in non_finite(getattr(output, f.name), f"{name}.{f.name}")]
    if isinstance(output, dict):
        return [bad for k, v in output.items() for bad in non_finite(v, f"{name}.{k}")]
    if isinstance(output, (list, tuple)):
        return [bad for i, v in enumerate(output) for bad in non_finite(v, f"{name}[{i}]")]
    return []


def require_finite(what: str, output: Any) -> None:
    bad = non_finite(output)
    if bad:
        raise UnhealthyModel(f"{what}: NaN or inf in {', '.join(bad)} on the canned health-check input")


def canned_head_batch(hidden_size: int, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> HeadBatch:
    """Hidden states for a head that has no backbone to make real ones (a head replica).

    Seeded, unit-scale values: a healthy head maps them to finite numbers like any real encoding,
    so a non-finite output can only come from the head itself."""
    length = 3 + _QUESTION_TOKENS + _CONTEXT_TOKENS
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(1, length, hidden_size, generator=generator).to(device=device, dtype=dtype)
    segments = torch.full((1, length), SEG_SPECIAL, dtype=torch.long)
    segments[0, 1:1 + _QUESTION_TOKENS] = SEG_QUESTION
    segments[0, 2 + _QUESTION_TOKENS:2 + _QUESTION_TOKENS + _CONTEXT_TOKENS] = SEG_CONTEXT
    # Each context token stands for a word of the canned context, with its real character range: a
    # head that reads the passage's structure (words, sentences, numbers; a yes/no with
    # compare_reads) must find some there, or its layers that read them are never exercised.
    offsets = torch.zeros(1, length, 2, dtype=torch.long)
    words = [m.span() for m in re.finditer(r"\w+", CANNED_CONTEXT)]
    for k in range(_CONTEXT_TOKENS):
        offsets[0, 2 + _QUESTION_TOKENS + k] = torch.tensor(words[k % len(words)])
    return HeadBatch(
        hidden=hidden,
        attention_mask=torch.ones(1, length, dtype=torch.long, device=device),
        segments=segments.to(device),
        offsets=offsets.to(device),
        example_index=torch.zeros(1, dtype=torch.long, device=device),
        questions=[CANNED_QUESTION],
        contexts=[CANNED_CONTEXT],
        # Any ids inside every vocabulary serve a copying head's self-test; a head's finite output
        # is what is checked, not the words.
        input_ids=torch.arange(length, dtype=torch.long, device=device)[None] % 100,
    )
