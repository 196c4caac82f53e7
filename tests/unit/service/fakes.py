"""Fake stages for the router's tests: a catalog like the tiny checkpoint's and an Engine whose
heads answer from the input text, can be told to fail, and record every call they get."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from service.pipeline.calls import EncodeCall, EncodeResult, HeadCall, HeadReply, HiddenStatesRef
from service.pipeline.failures import StageError, stage_of_head
from service.pipeline.catalog import Catalog, CheckpointInfo, HeadInfo

KINDS = {"span": "span", "multispan": "tagging", "answer_type": "classification", "yesno": "classification",
         "number": "generative", "summary": "generative"}
TASKS = {"drop_number": "number", "drop_span": "span", "drop_spans": "multispan", "hotpot_yesno": "yesno",
         "hotpot_span": "span", "squad": "span", "summarize": "summary"}


def make_catalog(colocated: tuple[str, ...] = ()) -> Catalog:
    return Catalog(
        checkpoint=CheckpointInfo(name="fake", hash="0123456789abcdef", created="2026-01-01T00:00:00Z", backbone="bert", hidden_size=32),
        heads={n: HeadInfo(name=n, kind=k, trained_on=[t for t, h in TASKS.items() if h == n], target_for=[t for t, h in TASKS.items() if h == n],
                           placement="colocated" if n in colocated else "replica") for n, k in KINDS.items()},
        tasks=dict(TASKS),
    )


def fake_output(head: str, question: str, passage: str) -> dict:
    """A deterministic output of the head's kind that points into the passage."""
    kind = KINDS[head]
    first = passage.split()[0]
    if kind == "span":
        return {"text": first, "start": 0, "end": len(first), "field": "context", "score": 0.9,
                "alternatives": [{"text": passage[:1], "start": 0, "end": 1, "field": "context", "score": 0.1}]}
    if kind == "tagging":
        return {"spans": [{"text": first, "start": 0, "end": len(first), "field": "context", "score": 0.8}]}
    if kind == "classification":
        return {"label": "yes", "score": 0.7, "probabilities": {"yes": 0.7, "no": 0.3}}
    return {"text": f"{head}:{len(passage)}", "score": 0.5, "num_tokens": 3, "finished": True}


@dataclass
class FakeEngine:
    catalog: Catalog
    calls_cross_processes = True  # as RayEngine: the router merges requests in front of it
    windows: int = 1
    # head -> what happens instead of an answer: a StageError to raise, "error" for an error reply,
    # "hang" to sleep past the timeout
    failures: dict[str, object] = field(default_factory=dict)
    backbone_failure: StageError | None = None
    not_ready: dict[str, str] = field(default_factory=dict)
    encode_calls: list[EncodeCall] = field(default_factory=list)
    head_calls: list[tuple[str, HeadCall]] = field(default_factory=list)

    async def encode(self, call: EncodeCall, timeout_s: float) -> EncodeResult:
        self.encode_calls.append(call)
        if self.backbone_failure is not None:
            raise self.backbone_failure
        store = {"questions": call.questions, "contexts": call.contexts}
        colocated = []
        for req in call.colocated:
            failure = self.failures.get(req.head)
            if failure == "error":
                colocated.append(HeadReply(error=f"head {req.head!r} raised RuntimeError"))
            else:
                colocated.append(HeadReply(outputs=[fake_output(req.head, call.questions[i], call.contexts[i]) for i in req.inputs]))
        return EncodeResult(
            hidden=HiddenStatesRef(ref=store, nbytes=100, num_inputs=len(call.contexts)) if call.keep_hidden else None,
            windows_per_input=[self.windows] * len(call.contexts),
            question_truncated=[False] * len(call.contexts),
            colocated=colocated, forward_ms=1.0, pass_inputs=len(call.contexts),
        )

    async def run_head(self, head: str, call: HeadCall, timeout_s: float) -> HeadReply:
        self.head_calls.append((head, call))
        failure = self.failures.get(head)
        if isinstance(failure, StageError):
            raise failure
        if failure == "error":
            return HeadReply(error=f"head {head!r} raised RuntimeError")
        if failure == "hang":
            try:
                await asyncio.wait_for(asyncio.sleep(3600), timeout_s)
            except asyncio.TimeoutError:
                raise StageError(f"head {head}", "timeout", f"no answer within {timeout_s:g} s") from None
        if failure == "crash":
            raise RuntimeError("secret internal detail")
        store = call.hidden.ref
        return HeadReply(outputs=[fake_output(head, store["questions"][i], store["contexts"][i]) for i in call.inputs])

    async def readiness(self, timeout_s: float) -> dict[str, str | None]:
        stages = ["backbone", *(stage_of_head(h) for h in KINDS)]
        return {s: self.not_ready.get(s) for s in stages}
