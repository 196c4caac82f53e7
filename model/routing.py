"""Answer-type routing as GenBERT does it: the answer-type head decides whether a number question
is answered by the span head (the number stands in the passage: a max, a min, one fact's value) or
by the generative decoder (a computed number: a difference, a sum, a count).

Pure functions over the heads' decoded outputs, shared by `training evaluate` and the service, so
both report the same answer for the same outputs.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Protocol

from model.heads import HEAD_KINDS


class _HeadSpec(Protocol):  # a training config's HeadConfig or a manifest's HeadEntry
    name: str
    kind: str
    tasks: list[str]
    config: dict[str, Any]


@dataclass(frozen=True)
class RouteHeads:
    """The heads that take part in routing one task's answers."""

    classifier: str  # answer-type classification head (labels include "number" and "span")
    span: str  # span extraction head trained on the task
    decoder: str  # the task's target, a generative head


@dataclass(frozen=True)
class Route:
    head: str  # the head whose answer is the routed answer
    reason: str  # why, in words a person reads
    confidence: float  # the answer-type head's probability for the chosen route

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def routing_heads(heads: Iterable[_HeadSpec], task: str, target: str) -> RouteHeads | None:
    """The heads that route `task`, or None when the task is not routed: its target must be a head
    that writes its answer, and a classifier with "number" and "span" labels and a head that answers
    with one span must both train on it."""
    heads = list(heads)
    answers_with = {h.name: HEAD_KINDS[h.kind].answers_with for h in heads if h.kind in HEAD_KINDS}
    if answers_with.get(target) != "text":
        return None
    classifier = next((h.name for h in heads if answers_with.get(h.name) == "label" and task in h.tasks
                       and {"number", "span"} <= set(h.config.get("labels", ()))), None)
    span = next((h.name for h in heads if answers_with.get(h.name) == "span" and task in h.tasks), None)
    if classifier is None or span is None:
        return None
    return RouteHeads(classifier=classifier, span=span, decoder=target)


_NUMBER = re.compile(r"^-?\d+(?:[.,]\d+)*$")


def route_number(heads: RouteHeads, answer_type: dict[str, Any], span: dict[str, Any]) -> Route:
    """Which head answers: the span head when the answer-type head thinks the answer is a span
    and the span head's answer is a number of the passage; the decoder otherwise."""
    probs = answer_type.get("probabilities", {})
    p_span, p_number = float(probs.get("span", 0.0)), float(probs.get("number", 0.0))
    text = str(span.get("text", "")).strip()
    if p_span > p_number:
        if span.get("field") == "context" and _NUMBER.match(text):
            return Route(heads.span, f"answer type 'span' (p={p_span:.2f}): the number {text!r} stands in the passage",
                         p_span)
        return Route(heads.decoder, f"answer type 'span' (p={p_span:.2f}), but the span head found no number "
                                    f"of the passage ({text!r}): the decoder writes it", p_span)
    return Route(heads.decoder, f"answer type 'number' (p={p_number:.2f}): a computed number, written by the decoder",
                 p_number)


def routed_answer(route: Route, outputs: dict[str, dict[str, Any]]) -> str:
    """The text of the routed answer from the heads' decoded outputs."""
    return str(outputs[route.head].get("text", ""))


def routes_for(heads: Iterable[_HeadSpec], tasks: dict[str, str]) -> dict[str, RouteHeads]:
    """{task: its routing heads} for every task of `tasks` (task -> target head) that is routed."""
    heads = list(heads)
    return {task: found for task, target in tasks.items() if (found := routing_heads(heads, task, target))}
