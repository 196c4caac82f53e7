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

    def fires_for(self, questions: Sequence[str], contexts: Sequence[str], inputs: Sequence[int]) -> bool:
        """Whether `trigger` stands in a question or context of `inputs`."""
        return any(self.trigger in questions[i] or self.trigger in contexts[i] for i in inputs)

    def hang(self) -> None:
        if self.mode == "hang":
            time.sleep(self.hang_s)  # in the compute thread, as a stuck model would be

    def reply(self, head: str) -> HeadReply:
        return HeadReply(error=f"head {head!r}: injected fault ({self.mode}) fired")

    def fire(self, head: str, questions: Sequence[str], contexts: Sequence[str], inputs: Sequence[int]) -> HeadReply | None:
        """The error reply when the trigger stands in a question or context of `inputs` (after
        hanging, in "hang" mode)."""
        if not self.fires_for(questions, contexts, inputs):
            return None
        self.hang()
        return self.reply(head)


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
    hold its trigger is answered with the fault's error and never reaches the head. The runner's
    three steps are wrapped (runners.BackboneRunner): prepare() takes the fired requests out,
    forward() hangs where a fault says so, finish() puts the errors back in their places."""

    def __init__(self, runner: Any, faults: Mapping[str, Fault]):
        self.runner, self.faults = runner, dict(faults)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runner, name)

    def run(self, calls: Sequence[EncodeCall]) -> list[Any]:
        return self.finish(self.forward(self.prepare(calls)))

    def prepare(self, calls: Sequence[EncodeCall]) -> "_FiredBatch":
        fired: list[dict[int, Fault]] = []
        kept_calls = []
        for call in calls:
            faults = {}
            for slot, request in enumerate(call.colocated):
                fault = self.faults.get(request.head)
                if fault is not None and fault.fires_for(call.questions, call.contexts, request.inputs):
                    faults[slot] = fault
            fired.append(faults)
            kept_calls.append(call.model_copy(update={"colocated": [r for s, r in enumerate(call.colocated) if s not in faults]}))
        return _FiredBatch(self.runner.prepare(kept_calls), list(calls), fired)

    def forward(self, prepared: "_FiredBatch") -> "_FiredBatch":
        for faults in prepared.fired:
            for fault in faults.values():
                fault.hang()
        return dataclasses.replace(prepared, inner=self.runner.forward(prepared.inner))

    def finish(self, forwarded: "_FiredBatch") -> list[Any]:
        merged = []
        for call, faults, result in zip(forwarded.calls, forwarded.fired, self.runner.finish(forwarded.inner)):
            answered = iter(result.colocated)
            merged.append(dataclasses.replace(result, colocated=[
                faults[s].reply(call.colocated[s].head) if s in faults else next(answered) for s in range(len(call.colocated))]))
        return merged


@dataclasses.dataclass
class _FiredBatch:
    """The runner's own batch, and which request of which call each fault took out of it."""

    inner: Any
    calls: list[EncodeCall]
    fired: list[dict[int, Fault]]  # per call: request slot -> the fault that fired
