"""The heads the analysis reads, by the part they play in the paper's findings, found in a
checkpoint by what each head's kind answers with and what it is trained on, never by its name:

    span        the extractive head (one span): it marks a computed number's arguments, or a yes/no
                answer's evidence, while another head is the target
    multispan   the tagging head (a set of spans): the same, as a set
    summary     the head that writes text and is trained to summarise: does a question steer it?

The analysis keys every prediction by role, so a checkpoint whose heads have other names is
analysed the same way, and its single-task controls are found under their heads' names.
"""
from __future__ import annotations

from typing import Iterable, Protocol

from model import HEAD_KINDS
from model.example import TASKS

SPAN, MULTISPAN, SUMMARY = "span", "multispan", "summary"
ROLES = (SPAN, MULTISPAN, SUMMARY)


class HeadLike(Protocol):
    name: str
    kind: str
    tasks: list[str]


def _writes_summaries(head: HeadLike) -> bool:
    return any("summary" in TASKS[t][1] for t in head.tasks if t in TASKS)


def role_of(head: HeadLike) -> str | None:
    """The role a head plays in the analysis, or None for one it does not read (a classifier, a
    number decoder)."""
    answers_with = HEAD_KINDS[head.kind].answers_with if head.kind in HEAD_KINDS else None
    if answers_with == "span":
        return SPAN
    if answers_with == "spans":
        return MULTISPAN
    if answers_with == "text" and _writes_summaries(head):
        return SUMMARY
    return None


def analysed_heads(heads: Iterable[HeadLike]) -> dict[str, str]:
    """role -> the name of the head that plays it, in ROLES order; the first head of a role wins
    (a checkpoint has at most one of each in every preset)."""
    found: dict[str, str] = {}
    for head in heads:
        role = role_of(head)
        if role is not None:
            found.setdefault(role, head.name)
    return {role: found[role] for role in ROLES if role in found}
