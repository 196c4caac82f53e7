"""A testing aid the deploy settings can give a head (`heads.overrides.<head>.fault`): fail on
purpose, to exercise degraded answers end to end. Never set in a production config.

The runners (runners.py) know nothing of it: a deployment whose head has a fault wraps its runner
in FaultyHead (a head replica) or FaultyBackbone (heads colocated with the backbone), which answer
the calls the fault fires for with its error, and pass every other call on unchanged."""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Literal, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from service.pipeline.calls import EncodeCall, HeadReply


class Fault(BaseModel):
    """Fires only for calls whose question or context contains `trigger`, so one deployed app serves
    both the healthy and the failing cases."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error

    mode: Literal["raise", "hang"]
    trigger: str = Field(min_length=1)
    hang_s: float = Field(5.0, gt=0, le=60)

    def fire(self, head: str, questions: Sequence[str], contexts: Sequence[str], inputs: Sequence[int]) -> HeadReply | None:
        """The error reply when the trigger stands in a question or context of `inputs` (after
        hanging, in "hang" mode)."""
        if not any(self.trigger in questions[i] or self.trigger in contexts[i] for i in inputs):
            return None
        if self.mode == "hang":
            time.sleep(self.hang_s)  # in the compute thread, as a stuck model would be
        return HeadReply(error=f"head {head!r}: injected fault ({self.mode}) fired")


class FaultyHead:
    """A head replica's runner whose calls holding the trigger fail; the rest run as one batch."""

    def __init__(self, runner: Any, fault: Fault):
        self.runner, self.fault = runner, fault

    def __getattr__(self, name: str) -> Any:  # everything else is the runner's
        return getattr(self.runner, name)

    def run_packed(self, calls: Sequence[tuple[Any, list[int], Any]], request_ids: Sequence[str] = ()) -> list[HeadReply]:
        fired = [self.fault.fire(self.runner.name, packed.questions, packed.contexts, chosen) for packed, chosen, _ in calls]
        kept = [i for i, reply in enumerate(fired) if reply is None]
        answered = iter(self.runner.run_packed([calls[i] for i in kept], [request_ids[i] for i in kept if i < len(request_ids)])
                        if kept else [])
        return [reply if reply is not None else next(answered) for reply in fired]


class FaultyBackbone:
    """A backbone runner whose colocated heads have faults: a head's request in a call whose inputs
    hold its trigger is answered with the fault's error and never reaches the head."""

    def __init__(self, runner: Any, faults: Mapping[str, Fault]):
        self.runner, self.faults = runner, dict(faults)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runner, name)

    def run(self, calls: Sequence[EncodeCall]) -> list[Any]:
        fired: list[dict[int, HeadReply]] = []
        kept_calls = []
        for call in calls:
            errors = {}
            for slot, request in enumerate(call.colocated):
                fault = self.faults.get(request.head)
                reply = fault.fire(request.head, call.questions, call.contexts, request.inputs) if fault is not None else None
                if reply is not None:
                    errors[slot] = reply
            fired.append(errors)
            kept_calls.append(call.model_copy(update={"colocated": [r for s, r in enumerate(call.colocated) if s not in errors]}))
        results = self.runner.run(kept_calls)
        merged = []
        for call, errors, result in zip(calls, fired, results):
            answered = iter(result.colocated)
            merged.append(dataclasses.replace(result, colocated=[errors.get(s) or next(answered) for s in range(len(call.colocated))]))
        return merged
