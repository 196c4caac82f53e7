"""What the pipeline answers with, per input: every head's output, the errors of heads that did
not answer, the route and the explanation, and the timings. The HTTP API (service/http/schemas.py)
sends these models as they are; they are pydantic so that the OpenAPI document describes them."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from service.pipeline.failures import ErrorKind


class HeadOutput(BaseModel):
    head: str
    kind: str
    output: dict[str, Any]


class HeadError(BaseModel):
    head: str
    kind: ErrorKind
    message: str


class InputInfo(BaseModel):
    windows: int = Field(description="Windows the passage was split into (1 when it fits the model).")
    windowed: bool
    question_truncated: bool
    passage_field: Literal["context", "text"]


class Evidence(BaseModel):
    """A span a non-target head points at: the arguments or evidence behind the target's answer."""

    head: str
    text: str
    start: int
    end: int
    field: str
    score: float
    in_sentence_with_both_entities: bool | None = Field(
        None, description="label targets: the span lies in a passage sentence that mentions both entities the "
                          "question compares (None when not judged: a question span, fewer than two entities).")


class Explanation(BaseModel):
    """Why the target said what it said, from the non-target span heads' top spans, and how much
    that proves (service/pipeline/explanations.py)."""

    kind: Literal["arithmetic", "evidence", "none"] = Field(
        description="arithmetic: a number target derived from all the top spans' numbers, by a search whose chance "
                    "rate is below the bound; evidence: the spans behind a label; none: no explanation, see message.")
    consistent: bool | None = Field(
        None, description="true only for arithmetic: an operation over every extracted number gives the target and "
                          "the search's chance rate is below the bound; false for none; null for evidence.")
    operation: str | None = Field(None, description="difference, sum, max, min or count, when consistent.")
    expression: str | None = Field(None, description='e.g. "24 - 17 = 7", when consistent.')
    arguments: list[Evidence] = Field(description="The spans used (consistent), tried (none), or the evidence.")
    chance: float | None = Field(
        None, description="number targets: how often the same search explains a wrong answer (gold - 1, gold + 1) on "
                          "held-out questions, measured once per checkpoint; null when the checkpoint was not measured.")
    chance_bound: float | None = Field(None, description="number targets: the chance rate below which it is trusted.")
    compared_entities: list[str] | None = Field(
        None, description="label targets: the entities the question compares, as found in the passage.")
    message: str


class Route(BaseModel):
    """Which head's answer is the answer, for a task the checkpoint routes (model/routing.py):
    GenBERT's answer-type decision between the span head (a number that stands in the passage)
    and the decoder (a computed number)."""

    head: str = Field(description="The head whose output is the routed answer (the target or the span head).")
    reason: str = Field(description="Why, in words: the answer type and what the span head found.")
    confidence: float = Field(ge=0.0, le=1.0, description="The answer-type head's probability for the chosen route.")
    answer: str = Field(description="The routed answer's text.")


class ItemResult(BaseModel):
    task: str | None
    target: HeadOutput
    non_target: list[HeadOutput]
    route: Route | None = Field(
        None, description="For a routed task (drop_number): which head answers and why; null for other tasks, or "
                          "when the answer-type or span head was not asked or did not answer.")
    explanation: Explanation | None = Field(
        None, description="For a number or label target: what the non-target span heads say behind it.")
    errors: list[HeadError]
    degraded: bool = Field(description="True when some non-target head did not answer (see errors).")
    input: InputInfo


class Timings(BaseModel):
    total: float
    backbone: float = Field(description="Router-observed: queue, batch wait, forward, storing hidden states.")
    backbone_forward: float = Field(description="The batched forward pass this request rode in.")
    backbone_batch_inputs: int = Field(description="Inputs in that pass (this request's and its batch neighbours'); a count, not ms.")
    heads: dict[str, float] = Field(description="Router-observed per head replica; colocated heads run inside `backbone`.")
