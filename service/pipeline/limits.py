"""The bounds the core enforces: input sizes and generation caps (checked when a request is
planned), each stage's time to answer, and where a head runs. The deploy settings
(service/deploy/settings.py) carry them under `limits:`, `timeouts:` and `heads.*.placement`."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# replica: the head has its own deployment, fed the hidden states through the object store;
# colocated: it runs inside the backbone replica, nothing moves.
Placement = Literal["replica", "colocated"]


class _Strict(BaseModel):
    # A misspelt key is an error, not a silently ignored default.
    model_config = ConfigDict(extra="forbid")


class Limits(_Strict):
    max_body_bytes: int = Field(1 << 20, ge=1024)
    max_batch_items: int = Field(16, ge=1)
    max_field_chars: int = Field(20_000, ge=16)
    max_new_tokens: int = Field(64, ge=1, le=1024)


class Timeouts(_Strict):
    """Every handle call is bounded: a stage that does not answer in time is an error, not a hang."""

    backbone_s: float = Field(10.0, gt=0)
    target_head_s: float = Field(10.0, gt=0)
    non_target_head_s: float = Field(5.0, gt=0)
    ready_s: float = Field(2.0, gt=0)
