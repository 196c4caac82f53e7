"""The messages the router, the backbone and the heads exchange inside the application.

The backbone returns the hidden states inside its answer (`EncodeResult.payload`), so the caller
owns them (in Ray the process that calls a task owns what it returns; a `ray.put` reference nested
in a Serve answer is owned by the replica and Ray can lose the caller's borrow of it: docs/results.md,
"Lost inputs"). The router's engine hands that answer on to the heads as a reference
(`HiddenStatesRef.ref`) and never builds a message with the tensors itself.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

class HeadOptions(BaseModel):
    """Per-call options a head understands; frozen so calls with equal options batch together."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    max_new_tokens: int | None = None  # generative heads only


class HiddenStatesRef(BaseModel):
    """Where one request's hidden states are, and how big they are (for the bytes-moved metric)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    # What an Engine hands a head to reach the hidden states: RayEngine keeps the backbone call's
    # DeploymentResponse here and passes it to every head call as a top-level argument. None in the
    # backbone's own answer (the payload travels in EncodeResult.payload).
    ref: Any
    nbytes: int
    num_inputs: int


class ColocatedRequest(BaseModel):
    head: str
    inputs: list[int]  # indices into the call's inputs
    options: HeadOptions = HeadOptions()


class EncodeCall(BaseModel):
    request_id: str
    questions: list[str]
    contexts: list[str]
    colocated: list[ColocatedRequest] = Field(default_factory=list)
    # False when every requested head is colocated: nothing needs storing then.
    keep_hidden: bool = True


class HeadReply(BaseModel):
    """One call's answer from a head: outputs (one per selected input) or why there are none."""

    outputs: list[dict[str, Any]] | None = None
    error: str | None = None


class EncodeResult(BaseModel):
    hidden: HiddenStatesRef | None
    windows_per_input: list[int]
    question_truncated: list[bool]
    colocated: list[HeadReply]  # aligned with EncodeCall.colocated
    forward_ms: float  # the backbone pass that served this call (shared by its whole batch)
    pass_inputs: int  # inputs in that pass, this call's and its batch neighbours'
    # The hidden states themselves (a payload.PackedHiddenStates), only in the backbone's answer as it
    # travels to a head; RayEngine.encode drops it from the router's copy.
    payload: Any = None


class HeadCall(BaseModel):
    request_id: str
    hidden: HiddenStatesRef
    inputs: list[int]  # which of the stored inputs this head reads
    options: HeadOptions = HeadOptions()
