"""One request's path through the stages, independent of Ray and HTTP.

    plan()     query + catalog + limits -> PlannedInput (or InputError with what to change)
    Predictor  backbone once for all inputs, then every replica head concurrently on the same
               stored hidden states; colocated heads come back with the backbone's answer.
               Results are assembled per input: target, non-target outputs, errors.

A head's placement changes which call carries it, nothing else: both kinds of head end up as the
same (head, input) -> output | StageError outcome before the response is built.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from service.pipeline.calls import ColocatedRequest, EncodeCall, EncodeResult, HeadCall, HeadOptions, HeadReply
from service.pipeline.catalog import Catalog
from service.pipeline.failures import BACKBONE, InputError, StageError, TargetFailed, UnknownName, stage_of_head
from service.pipeline.engine import Engine
from service.pipeline.metrics import NullMetrics, PipelineMetrics
from service.pipeline.retry import with_one_retry
from service.pipeline.explanations import explain
from service.pipeline.results import HeadError, HeadOutput, InputInfo, ItemResult, Route, Timings
from service.pipeline.limits import Limits, Timeouts
from model.heads import HEAD_KINDS
from model.routing import RouteHeads, route_number, routed_answer


@dataclass
class PlannedInput:
    question: str
    passage: str
    passage_field: str
    task: str | None
    target: str
    others: list[str]  # non-target heads to run, in catalog order
    options: HeadOptions

    @property
    def heads(self) -> list[str]:
        return [self.target, *self.others]


@dataclass(frozen=True)
class Query:
    """One input as the core reads it; the HTTP layer builds it from a request it has validated
    (service/http/schemas.py: PredictRequest.query). Field names are the API's, so that an error
    names what the client sent."""

    passage: str
    passage_field: str  # "context" or "text": the field the passage came in, named back in answers
    question: str | None = None
    task: str | None = None
    target_head: str | None = None
    heads: list[str] | None = None  # None: every head; []: the target alone
    max_new_tokens: int | None = None


def plan(query: Query, catalog: Catalog, limits: Limits, where: str = "") -> PlannedInput:
    """Check the query against the checkpoint and the limits; name the field and the fix."""
    try:
        target = catalog.target_of(query.task, query.target_head)
        if query.heads is not None:
            catalog.check_heads(query.heads)
    except UnknownName as err:
        raise InputError(f"{where}{err}", code="unknown_name") from None
    for name, value in (("question", query.question), (query.passage_field, query.passage)):
        if value is not None and len(value) > limits.max_field_chars:
            raise InputError(
                f"{where}inputs.{name} has {len(value)} characters; the limit is {limits.max_field_chars}: "
                "shorten it or split it over several requests", code="input_too_long")
    max_new = query.max_new_tokens
    if max_new is not None and max_new > limits.max_new_tokens:
        raise InputError(f"{where}options.max_new_tokens {max_new} is above the limit {limits.max_new_tokens}", code="invalid_option")
    wanted = set(catalog.heads) if query.heads is None else set(query.heads)
    return PlannedInput(
        question=query.question or "",
        passage=query.passage,
        passage_field=query.passage_field,
        task=query.task,
        target=target,
        others=[h for h in catalog.heads if h in wanted and h != target],
        options=HeadOptions(max_new_tokens=max_new),
    )


@dataclass
class _Group:
    """One head call: a head, its options, and the inputs it reads."""

    head: str
    options: HeadOptions
    inputs: list[int] = field(default_factory=list)
    is_target: bool = False


class Predictor:
    def __init__(self, engine: Engine, catalog: Catalog, timeouts: Timeouts, metrics: PipelineMetrics | None = None):
        self.engine, self.catalog, self.timeouts = engine, catalog, timeouts
        self.metrics = metrics or NullMetrics()
        self.colocated = set(catalog.colocated())

    async def predict(self, planned: list[PlannedInput], request_id: str) -> tuple[list[ItemResult], Timings]:
        """Every input's answer; a failed target fails the whole request (TargetFailed names its items)."""
        outcomes, timings = await self.predict_items(planned, request_id)
        failed = [(i, o) for i, o in enumerate(outcomes) if isinstance(o, TargetFailed)]
        if failed:
            head, error = failed[0][1].head, failed[0][1].error
            raise TargetFailed(head, error, [i for i, o in failed if o.head == head])
        return outcomes, timings  # type: ignore[return-value]

    async def predict_one(self, planned: PlannedInput, request_id: str) -> tuple[ItemResult | TargetFailed, Timings]:
        """One input's answer, or its target's failure, in its own pass (merge.py's shape)."""
        [outcome], timings = await self.predict_items([planned], request_id)
        return outcome, timings

    async def predict_items(self, planned: list[PlannedInput], request_id: str) -> tuple[list[ItemResult | TargetFailed], Timings]:
        """Each input's answer, or the failure of its target (TargetFailed for item 0: the input
        alone); a backbone failure raises for all of them. Inputs of several requests can share
        one pass this way (merge.py)."""
        started = time.perf_counter()
        groups = self._groups(planned)
        colocated = [g for g in groups if g.head in self.colocated]
        replica = [g for g in groups if g.head not in self.colocated]

        call = EncodeCall(
            request_id=request_id,
            questions=[p.question for p in planned],
            contexts=[p.passage for p in planned],
            colocated=[ColocatedRequest(head=g.head, inputs=g.inputs, options=g.options) for g in colocated],
            keep_hidden=bool(replica),
        )
        t0 = time.perf_counter()
        try:
            # Every answer needs the backbone: a replica lost mid-call is worth one more try (retry.py).
            encoded = await with_one_retry(lambda t: self.engine.encode(call, t), self.timeouts.backbone_s, request_id)
        except StageError as err:
            self.metrics.error(BACKBONE, err.kind)
            raise
        backbone_ms = _ms(t0)
        if len(encoded.colocated) != len(colocated):
            raise RuntimeError(f"backbone answered {len(encoded.colocated)} colocated calls, {len(colocated)} were made")

        outcomes: dict[tuple[str, int], dict | StageError] = {}
        for group, reply in zip(colocated, encoded.colocated):
            self._record(group, reply, backbone_ms, outcomes)
        head_ms = await self._run_replicas(replica, encoded, request_id, outcomes)

        results = [
            TargetFailed(p.target, outcome, [0]) if isinstance(outcome := outcomes[(p.target, i)], StageError)
            else self._assemble(i, p, encoded, outcomes)
            for i, p in enumerate(planned)
        ]
        timings = Timings(total=_ms(started), backbone=backbone_ms, backbone_forward=round(encoded.forward_ms, 3),
                          backbone_batch_inputs=encoded.pass_inputs, heads=head_ms)
        return results, timings

    def _groups(self, planned: list[PlannedInput]) -> list[_Group]:
        groups: dict[tuple[str, HeadOptions], _Group] = {}
        for i, p in enumerate(planned):
            for head in p.heads:
                # Options only mean something to kinds that take them; elsewhere they must not split a batch.
                kind = HEAD_KINDS.get(self.catalog.kind(head))
                options = p.options if kind is not None and kind.generation_options else HeadOptions()
                group = groups.setdefault((head, options), _Group(head, options))
                group.inputs.append(i)
                group.is_target |= head == p.target
        return list(groups.values())

    async def _run_replicas(self, groups: list[_Group], encoded: EncodeResult, request_id: str,
                            outcomes: dict[tuple[str, int], dict | StageError]) -> dict[str, float]:
        if not groups:
            return {}
        if encoded.hidden is None:
            raise RuntimeError("the backbone kept no hidden states although replica heads were requested")

        async def one(group: _Group) -> tuple[HeadReply | StageError, float]:
            t0 = time.perf_counter()
            timeout = self.timeouts.target_head_s if group.is_target else self.timeouts.non_target_head_s
            call = HeadCall(request_id=request_id, hidden=encoded.hidden, inputs=group.inputs, options=group.options)
            try:
                # Only the target's replica is worth a second call; a lost non-target goes to errors[].
                if group.is_target:
                    return await with_one_retry(lambda t: self.engine.run_head(group.head, call, t), timeout, request_id), _ms(t0)
                return await self.engine.run_head(group.head, call, timeout), _ms(t0)
            except StageError as err:
                return err, _ms(t0)

        answers = await asyncio.gather(*(one(g) for g in groups))
        head_ms: dict[str, float] = {}
        for group, (reply, ms) in zip(groups, answers):
            self._record(group, reply, ms, outcomes)
            head_ms[group.head] = max(ms, head_ms.get(group.head, 0.0))
        return head_ms

    def _record(self, group: _Group, reply: HeadReply | StageError, ms: float,
                outcomes: dict[tuple[str, int], dict | StageError]) -> None:
        if isinstance(reply, HeadReply) and reply.error is not None:
            reply = StageError(stage_of_head(group.head), "failed", reply.error)
        elif isinstance(reply, HeadReply) and (reply.outputs is None or len(reply.outputs) != len(group.inputs)):
            got = None if reply.outputs is None else len(reply.outputs)
            reply = StageError(stage_of_head(group.head), "failed", f"head {group.head!r} answered {got} outputs for {len(group.inputs)} inputs")
        role = "target" if group.is_target else "non_target"
        if isinstance(reply, StageError):
            self.metrics.head_call(group.head, role, reply.kind, ms)
            self.metrics.error(stage_of_head(group.head), reply.kind)
            for i in group.inputs:
                outcomes[(group.head, i)] = reply
            return
        self.metrics.head_call(group.head, role, "ok", ms)
        for i, output in zip(group.inputs, reply.outputs):  # type: ignore[arg-type]
            outcomes[(group.head, i)] = output

    def _route(self, p: PlannedInput, target: HeadOutput, non_target: list[HeadOutput]) -> Route | None:
        if p.task is None or target.head != self.catalog.tasks.get(p.task):
            return None  # a target named by hand is answered by that head, not routed
        return _route_of(self.catalog.routes.get(p.task), target, non_target)

    def _assemble(self, i: int, p: PlannedInput, encoded: EncodeResult,
                  outcomes: dict[tuple[str, int], dict | StageError]) -> ItemResult:
        def output_of(head: str) -> HeadOutput:
            kind = self.catalog.kind(head)
            return HeadOutput(head=head, kind=kind, output=name_passage_field(outcomes[(head, i)], kind, p.passage_field))  # type: ignore[arg-type]

        target = output_of(p.target)  # a failed target never gets here (TargetFailed)
        non_target, errors = [], []
        for head in p.others:
            outcome = outcomes[(head, i)]
            if isinstance(outcome, StageError):
                errors.append(HeadError(head=head, kind=outcome.kind, message=outcome.message))
                self.metrics.degraded(head)
            else:
                non_target.append(output_of(head))
        windows = encoded.windows_per_input[i]
        explanation = explain(target, non_target, question=p.question, passage=p.passage,
                              chance=self.catalog.explanation_chance, bound=self.catalog.explanation_chance_bound)
        return ItemResult(
            task=p.task,
            target=target,
            non_target=non_target,
            route=self._route(p, target, non_target),
            explanation=explanation,
            errors=errors,
            degraded=bool(errors),
            input=InputInfo(windows=windows, windowed=windows > 1, question_truncated=encoded.question_truncated[i],
                            passage_field=p.passage_field),  # type: ignore[arg-type]
        )


def _route_of(heads: RouteHeads | None, target: HeadOutput, non_target: list[HeadOutput]) -> Route | None:
    """The routing decision over the heads' outputs, when every head it reads answered."""
    outputs = {o.head: o.output for o in (target, *non_target)}
    if heads is None or not {heads.classifier, heads.span, heads.decoder} <= set(outputs):
        return None
    decided = route_number(heads, outputs[heads.classifier], outputs[heads.span])
    return Route(**decided.to_dict(), answer=routed_answer(decided, outputs))


def name_passage_field(output: dict, kind: str, passage_field: str) -> dict:
    """Span offsets point into `context` or `question`; when the client sent `text`, say `text`.
    Which parts of an output are spans is the head kind's to say (Head.map_spans)."""
    if passage_field == "context":
        return output

    def rename(span: dict) -> dict:
        return {**span, "field": passage_field} if span.get("field") == "context" else span

    return HEAD_KINDS[kind].map_spans(output, rename)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)
