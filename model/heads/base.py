"""What every head shares: the batch it reads, the registry, and the head interface.

A head reads the backbone's hidden states (never the backbone itself), so the same class runs in
the trainer, in the backbone's process (colocated) or alone in a head replica.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Literal, Sequence

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from torch import nn

from model.backbone import BackboneInfo
from model.encoding import FIELD_OF_SEGMENT, Encoding


@dataclass
class HeadBatch:
    """Hidden states of every window plus what is needed to map tokens back to characters."""

    hidden: torch.Tensor  # [W, T, H]; a server fills it in once the backbone ran (Head.prepare)
    attention_mask: torch.Tensor  # [W, T]
    segments: torch.Tensor  # [W, T]
    offsets: torch.Tensor  # [W, T, 2]
    example_index: torch.Tensor  # [W] -> input index in [0, num_inputs)
    questions: list[str]
    contexts: list[str]
    # [W, T] the tokens the hidden states stand for: a head that copies from its input (a
    # generative head with `copy`) needs them; None where the batch was made without them.
    input_ids: torch.Tensor | None = None

    @classmethod
    def from_encoding(cls, enc: Encoding, hidden: torch.Tensor) -> "HeadBatch":
        return cls(hidden, enc.attention_mask, enc.segments, enc.offsets, enc.example_index, enc.questions, enc.contexts,
                   enc.input_ids)

    @property
    def num_inputs(self) -> int:
        return len(self.contexts)

    def select(self, inputs: Sequence[int]) -> "HeadBatch":
        """The windows of the given inputs, renumbered 0..len(inputs)-1 in that order."""
        inputs = list(inputs)
        new_index = {old: new for new, old in enumerate(inputs)}
        # One host copy of the window -> input map; reading it element by element from a GPU
        # tensor would synchronise once per window.
        window_inputs = self.example_index.tolist()
        rows = [w for w, ex in enumerate(window_inputs) if ex in new_index]
        rows_t = torch.tensor(rows, dtype=torch.long, device=self.hidden.device)
        return HeadBatch(
            hidden=self.hidden.index_select(0, rows_t),
            attention_mask=self.attention_mask.index_select(0, rows_t),
            segments=self.segments.index_select(0, rows_t),
            offsets=self.offsets.index_select(0, rows_t),
            example_index=torch.tensor(
                [new_index[window_inputs[w]] for w in rows], dtype=torch.long, device=self.hidden.device
            ),
            questions=[self.questions[i] for i in inputs],
            contexts=[self.contexts[i] for i in inputs],
            input_ids=None if self.input_ids is None else self.input_ids.index_select(0, rows_t),
        )

    def windows_of(self, input_index: int) -> list[int]:
        return (self.example_index == input_index).nonzero(as_tuple=True)[0].tolist()

    def char_span(self, window: int, start_tok: int, end_tok: int) -> dict[str, Any]:
        """Characters covered by tokens [start_tok, end_tok] of one window, with the field they're in."""
        field = FIELD_OF_SEGMENT[int(self.segments[window, start_tok])]
        start = int(self.offsets[window, start_tok, 0])
        end = int(self.offsets[window, end_tok, 1])
        text = self.contexts if field == "context" else self.questions
        source = text[int(self.example_index[window])]
        return {"text": source[start:end], "start": start, "end": end, "field": field}


class TextSpan(BaseModel):
    """A stretch of an input: `text == <field>[start:end]` (characters)."""

    model_config = ConfigDict(extra="allow")
    text: str
    start: int
    end: int
    field: Literal["question", "context", "text"]
    score: float


def pool_per_input(values: torch.Tensor, example_index: torch.Tensor, num_inputs: int) -> torch.Tensor:
    """Mean of per-window rows ([W, ...]) over each input's windows -> [num_inputs, ...]."""
    out = torch.zeros((num_inputs, *values.shape[1:]), dtype=values.dtype, device=values.device)
    out.index_add_(0, example_index, values)
    counts = torch.bincount(example_index, minlength=num_inputs).clamp(min=1).to(values.dtype)
    return out / counts.view(-1, *([1] * (values.dim() - 1)))


IGNORED = -100  # a target no loss reads (a row with nothing to learn, a special token)


def supervised_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of logits [N, C] against targets [N], averaged over the targets that are not
    IGNORED, and 0 when every one is: a batch whose rows give a head nothing to learn (a span head
    fed only computed numbers) must cost nothing, not 0/0 = NaN that stops training."""
    total = F.cross_entropy(logits, targets, ignore_index=IGNORED, reduction="sum")
    return total / (targets != IGNORED).sum().clamp_min(1)


class Head(nn.Module):
    """A small task network over the backbone's hidden states.

    forward(batch, labels=None) -> a typed output whose `loss` is set only when labels are given;
    build_labels(examples, batch, tokenizer) -> the labels for those examples (training only);
    decode(output, batch, tokenizer) -> one readable dict per input.
    """

    kind: ClassVar[str] = ""
    # What the rest of the code needs to know about a kind is declared here, by the kind, so that
    # nothing outside the registry branches on kind names:
    # the pydantic model of one decoded output (the service's OpenAPI types outputs by kind with it)
    output_model: ClassVar[type[BaseModel]] = BaseModel
    # decode() turns token ids into text, so whoever runs the head loads the tokenizer
    needs_tokenizer: ClassVar[bool] = False
    # the head reads the backbone's word embeddings (tied in training; shared when colocated)
    ties_embeddings: ClassVar[bool] = False
    # request options forward() takes as keyword arguments (e.g. max_new_tokens)
    generation_options: ClassVar[tuple[str, ...]] = ()
    # forward() keyword arguments of the replica's health check: the cheapest run that still
    # exercises every layer
    health_check_options: ClassVar[dict[str, Any]] = {}
    # What an answer of this kind is, which decides how it is explained and routed
    # (service/pipeline/explanations.py, model/routing.py): "span" (one span of the input: nothing
    # to explain; a routed number question falls back to it), "spans" (a set of spans), "label" (a
    # class: the other heads' spans are its evidence), "text" (written: a number it writes is
    # explained by arithmetic over the other heads' spans, and it is what routing routes away from).
    answers_with: ClassVar[Literal["span", "spans", "label", "text"]] = "text"

    @classmethod
    def top_spans(cls, output: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
        """The spans of an output that an explanation reads (its answer, never the alternatives),
        and whether they form a set (what a `count` counts); none for a kind that extracts none."""
        return [], False

    @classmethod
    def map_spans(cls, output: dict[str, Any], fn: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """`output` with `fn` applied to every span (a TextSpan dict) it lists, best first; a kind
        whose outputs hold no spans returns it unchanged."""
        return output

    @classmethod
    def spans_of(cls, output: dict[str, Any]) -> list[dict[str, Any]]:
        """The spans a decoded output lists, best first (none for a kind without spans)."""
        found: list[dict[str, Any]] = []
        cls.map_spans(output, lambda span: found.append(span) or span)
        return found

    @classmethod
    def forward_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """The request options this kind's forward() takes, those that are set."""
        return {k: v for k, v in options.items() if k in cls.generation_options and v is not None}

    def prepare(self, batch: HeadBatch) -> None:
        """Host work that reads the inputs alone (their text, tokens and offsets), never the hidden
        states, done now and kept on the batch for forward() and decode(). A server calls it before
        the backbone runs, in a thread beside the model (service/replica/runners.py); a head that
        is not prepared does the same work when it first needs it. Default: nothing to do."""

    def __init__(self, name: str, info: BackboneInfo, config: dict[str, Any]):
        super().__init__()
        self.name = name
        self.info = info
        self.config = dict(config)

    @classmethod
    def new_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The config a head trained from now on is built with: the kind's current defaults filled
        in, where building from a stored config keeps what that checkpoint was trained with."""
        return dict(config)

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> None:
        """Raise ValueError naming the key and its valid values for a config this kind cannot
        build; a training config calls it before any work starts."""

    def describe(self) -> dict[str, Any]:
        """What the manifest records about this head beyond its weights."""
        return {"kind": self.kind, "config": self.config}


HEAD_KINDS: dict[str, type[Head]] = {}


def register_head(kind: str):
    """Class decorator: make a head kind buildable by name. A kind registered twice is an error."""

    def wrap(cls: type[Head]) -> type[Head]:
        if kind in HEAD_KINDS:
            raise ValueError(f"head kind {kind!r} is registered twice ({HEAD_KINDS[kind].__name__} and {cls.__name__})")
        cls.kind = kind
        HEAD_KINDS[kind] = cls
        return cls

    return wrap


def build_head(
    name: str, kind: str, info: BackboneInfo, config: dict[str, Any] | None = None, **kwargs: Any
) -> Head:
    if kind not in HEAD_KINDS:
        raise ValueError(f"head {name!r}: unknown kind {kind!r}; valid kinds: {sorted(HEAD_KINDS)}")
    return HEAD_KINDS[kind](name, info, config or {}, **kwargs)
