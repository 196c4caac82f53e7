"""The HTTP API (v1) as pydantic models: what a client sends and what it gets back.

These models carry the checks that need nothing but the request itself (types, required and empty
fields, task xor target_head); checks against the checkpoint or the deploy limits happen in
pipeline.plan(), with messages that list the valid values.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from service.pipeline.failures import ErrorKind
from service.pipeline.catalog import CheckpointInfo, HeadInfo


class _Strict(BaseModel):
    # An unknown key is most often a typo ("heds"), so it is refused rather than ignored.
    model_config = ConfigDict(extra="forbid")


def _valid_unicode(value: str) -> str:
    """JSON may carry a lone UTF-16 surrogate ("\\ud800"); Python accepts it, but neither the
    tokenizer nor the JSON encoder of the response can, so it is refused here with its position."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise PydanticCustomError(
            "invalid_unicode",
            "contains a lone UTF-16 surrogate (\\u{code}) at character {at}; send valid Unicode (a character above "
            "U+FFFF is a surrogate pair, high then low)",
            {"code": f"{ord(value[err.start]):04x}", "at": err.start},
        ) from None
    return value


# Every string a client sends: valid Unicode only (control, zero-width and right-to-left characters
# are valid text and are answered; only what cannot be encoded is refused).
Text = Annotated[StrictStr, AfterValidator(_valid_unicode)]


def _whole_number(value: Any) -> Any:
    """JSON Schema counts 1.0 as an integer, and so do some JSON encoders; take it as 1 (a
    fraction, a bool or a string is still refused by StrictInt)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = Annotated[StrictInt, BeforeValidator(_whole_number)]


def has_visible_text(value: str) -> bool:
    """True when some character is neither whitespace, a separator nor an "other" (control,
    format such as zero-width or direction marks, private use, unassigned): the tokenizer drops
    or cannot read all of those, so a text of only them gives the model nothing to read."""
    return any(ch.isprintable() and not ch.isspace() for ch in value)


class Inputs(_Strict):
    """`context` (a passage to read) or `text` (a document to summarise), and an optional question."""

    question: Text | None = Field(None, description="The question; omit it for plain summarisation.")
    context: Text | None = Field(None, description="The passage the question is about.")
    text: Text | None = Field(None, description="A document, when there is no question (same role as context).")

    @field_validator("question", "context", "text")
    @classmethod
    def _not_blank(cls, value: str | None, info) -> str | None:
        if value is not None and not has_visible_text(value):
            raise ValueError(f"inputs.{info.field_name} is empty (nothing but whitespace, control or zero-width "
                             "characters); give some text or leave the field out")
        return value

    @model_validator(mode="after")
    def _one_passage(self) -> "Inputs":
        if self.context is None and self.text is None:
            raise ValueError("inputs needs `context` (the passage to read) or `text` (a document); neither was given")
        if self.context is not None and self.text is not None:
            raise ValueError("inputs has both `context` and `text`; they play the same role, send only one")
        return self

    @property
    def passage(self) -> str:
        return self.context if self.context is not None else self.text  # type: ignore[return-value]

    @property
    def passage_field(self) -> Literal["context", "text"]:
        return "context" if self.context is not None else "text"


class Options(_Strict):
    max_new_tokens: WholeNumber | None = Field(None, ge=1, description="Cap on tokens a generative head writes.")


class PredictRequest(_Strict):
    task: Text | None = Field(None, description="A task of the checkpoint; its target head answers.")
    target_head: Text | None = Field(None, description="Name the answering head directly instead of a task.")
    inputs: Inputs
    heads: list[Text] | None = Field(
        None, description="Heads to run besides the target; all heads when omitted, only the target when empty."
    )
    options: Options = Field(default_factory=Options)

    @model_validator(mode="after")
    def _task_or_head(self) -> "PredictRequest":
        if (self.task is None) == (self.target_head is None):
            raise ValueError("give exactly one of `task` or `target_head` (GET /v1/heads lists both)")
        return self

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "task": "squad",
            "inputs": {"question": "Who founded the choir?", "context": "Omar Roberts founded the choir in 1920."},
        }]},
    )


class BatchRequest(_Strict):
    items: list[PredictRequest] = Field(min_length=1, description="Requests answered together; GET /v1/heads gives the limit.")


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


class CheckpointRef(BaseModel):
    name: str
    hash: str


class PredictResponse(ItemResult):
    request_id: str
    checkpoint: CheckpointRef
    timings_ms: Timings


class BatchResponse(BaseModel):
    request_id: str
    checkpoint: CheckpointRef
    results: list[ItemResult]
    timings_ms: Timings


class LimitsView(BaseModel):
    max_body_bytes: int
    max_batch_items: int
    max_field_chars: int
    max_new_tokens: int


class HeadsResponse(BaseModel):
    checkpoint: CheckpointInfo
    heads: list[HeadInfo]
    tasks: dict[str, str]
    limits: LimitsView


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str


class ErrorResponse(BaseModel):
    error: ErrorDetail
