"""The one example shape every generator and reader produces, and jsonl I/O for it.

Ground truth that the emergent-behaviour analysis needs (operation, argument spans, evidence
spans) travels with the example, so no later stage has to re-derive it from text.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Literal

Field = Literal["context", "question"]

SETTINGS = ("numeric", "multihop", "qa_summary")

# task -> (setting, answer_type values it carries). Each task has exactly one target head in a
# model config; the names are shared by generators, readers, training configs and the service.
TASKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "drop_number": ("numeric", ("number",)),
    "drop_span": ("numeric", ("span",)),
    "drop_spans": ("numeric", ("spans",)),
    "hotpot_yesno": ("multihop", ("yes", "no")),
    "hotpot_span": ("multihop", ("span",)),
    "squad": ("qa_summary", ("span",)),
    "summarize": ("qa_summary", ("summary",)),
}

ANSWER_TYPES = ("number", "span", "spans", "yes", "no", "summary")


@dataclass(frozen=True)
class Span:
    """Characters [start, end) of `field` ("context" or "question") of an example."""

    start: int
    end: int
    text: str
    field: Field = "context"


@dataclass
class Example:
    id: str
    setting: str
    task: str
    context: str
    answer: str
    answer_type: str
    question: str = ""
    # Where the answer stands: one span for "span", several for "spans", none for number/summary
    # (see span_supervision for a number that stands in the passage).
    answer_spans: list[Span] = field(default_factory=list)
    # numeric: "difference" | "sum" | "count" | "max" | "min" | "identity"; None elsewhere.
    operation: str | None = None
    # numeric: the spans whose numbers the operation combines (in order for "difference").
    argument_spans: list[Span] = field(default_factory=list)
    # multihop: the supporting facts; squad: the answer-bearing sentence; summarize: the
    # sentence(s) the reference summary was written from.
    evidence_spans: list[Span] = field(default_factory=list)
    template: str = ""
    split: str = "train"  # "train" | "heldout" (held-out templates, evaluation only)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"example {self.id}: unknown task {self.task!r}; valid tasks: {sorted(TASKS)}")
        if self.answer_type not in ANSWER_TYPES:
            raise ValueError(
                f"example {self.id}: unknown answer_type {self.answer_type!r}; valid: {list(ANSWER_TYPES)}"
            )
        for span in [*self.answer_spans, *self.argument_spans, *self.evidence_spans]:
            text = self.context if span.field == "context" else self.question
            if text[span.start : span.end] != span.text:
                raise ValueError(
                    f"example {self.id}: span {span} does not match its {span.field} "
                    f"(found {text[span.start:span.end]!r})"
                )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Example":
        data = dict(data)
        for key in ("answer_spans", "argument_spans", "evidence_spans"):
            data[key] = [Span(**s) for s in data.get(key, [])]
        return cls(**data)


def write_jsonl(examples: Iterable[Example], path: str | Path) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        for ex in examples:
            fh.write(json.dumps(ex.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    return count


def read_jsonl(path: str | Path) -> Iterator[Example]:
    """Examples from a jsonl file; a bad line raises an error naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset file {path} does not exist")
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield Example.from_dict(json.loads(line))
            except (json.JSONDecodeError, TypeError, ValueError) as err:
                raise ValueError(f"{path}:{lineno}: not a valid example ({err})") from err


def span_supervision(example: Example) -> list[Span]:
    """Where a span head is taught to point for this example: its answer spans; for a number
    answer without them, every place the number stands verbatim in the context (as GenBERT trains
    its span head on DROP: a max/min answer is a span of the passage). Empty when neither."""
    if example.answer_spans or example.answer_type != "number" or not example.answer.strip():
        return list(example.answer_spans)
    # whole numbers only: "7" must not match inside "17", "7.5" or "1,700"
    pattern = r"(?<![\d.,])" + re.escape(example.answer.strip()) + r"(?![\d]|[.,]\d)"
    return [Span(m.start(), m.end(), m.group()) for m in re.finditer(pattern, example.context)]
