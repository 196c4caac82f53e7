"""A testing aid the deploy settings can give a head (`heads.overrides.<head>.fault`): fail on
purpose, to exercise degraded answers end to end. Never set in a production config."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class InjectedFault(RuntimeError):
    """Raised by a head whose deploy settings carry a `fault`, never otherwise."""


class Fault(BaseModel):
    """Testing aid: make a head fail on purpose, to exercise degraded answers end to end.

    Fires only for calls whose question or context contains `trigger`, so one deployed app serves
    both the healthy and the failing cases. Never set it in a production config."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error

    mode: Literal["raise", "hang"]
    trigger: str = Field(min_length=1)
    hang_s: float = Field(5.0, gt=0, le=60)
