"""The HTTP API (v1) as pydantic models: what a client sends and what it gets back.

These models carry the checks that need nothing but the request itself (types, required and empty
fields, task xor target_head); checks against the checkpoint or the deploy limits happen in
pipeline.plan(), which reads the request as the core's Query, with messages that list the valid
values.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from service.pipeline.catalog import CheckpointInfo, HeadInfo
from service.pipeline.predict import Query
# The answers' parts are the core's result types (service/pipeline/results.py), sent as they are.
from service.pipeline.results import (Evidence, Explanation, HeadError, HeadOutput, InputInfo,  # noqa: F401
                                      ItemResult, Route, Timings)


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

    def query(self) -> Query:
        return Query(passage=self.inputs.passage, passage_field=self.inputs.passage_field,
                     question=self.inputs.question, task=self.task, target_head=self.target_head, heads=self.heads,
                     max_new_tokens=self.options.max_new_tokens)

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
