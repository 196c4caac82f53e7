"""The examples the inspector offers, read from the checkpoint (model/checkpoint.read_examples).

They are stored in the checkpoint by `training` when it saves, instead of being generated here:
the service depends on `model` only, never on `training` (whose generators would pull in the
training stack and could drift from what the checkpoint was trained on)."""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from model.checkpoint import read_examples
from model.example import Example


class SpanView(BaseModel):
    start: int
    end: int
    text: str
    field: str


class ExampleView(BaseModel):
    id: str
    setting: str = Field(description="numeric, multihop or qa_summary: the paper's three settings.")
    task: str = Field(description="The task to send it as; its target head answers.")
    question: str
    context: str
    answer: str = Field(description="The reference answer: the generator's, or the dataset's gold answer.")
    answer_from: str = Field(description="Where `answer` comes from: \"generator\" for a synthetic example, else the "
                                         "real data it was read from (e.g. \"held-out articles\" of SQuAD).")
    answer_type: str
    operation: str | None = Field(None, description="numeric: the operation behind the answer.")
    argument_spans: list[SpanView] = Field(description="numeric: where the operation's numbers stand.")
    evidence_spans: list[SpanView] = Field(description="The sentences that support the answer.")

    @classmethod
    def of(cls, example: Example) -> "ExampleView":
        spans = lambda xs: [SpanView(start=s.start, end=s.end, text=s.text, field=s.field) for s in xs]  # noqa: E731
        return cls(id=example.id, setting=example.setting, task=example.task, question=example.question,
                   context=example.context, answer=example.answer, answer_from=_answer_from(example),
                   answer_type=example.answer_type,
                   operation=example.operation, argument_spans=spans(example.argument_spans),
                   evidence_spans=spans(example.evidence_spans))


def _answer_from(example: Example) -> str:
    # Readers name their examples' source (training/data/loading.py); generators write templates.
    return example.extra.get("source") or ("generator" if example.template else "real data")


class ExamplesResponse(BaseModel):
    checkpoint: str
    examples: list[ExampleView] = Field(
        description="Held-out examples of the tasks this checkpoint serves; empty for a checkpoint saved without them.")


def load_examples(checkpoint: str | Path, tasks: set[str]) -> list[ExampleView]:
    """The checkpoint's examples of the tasks it serves (a reader-trained checkpoint may store
    examples of tasks no head answers; offering them would only give an error)."""
    return [ExampleView.of(e) for e in read_examples(checkpoint) if e.task in tasks]
