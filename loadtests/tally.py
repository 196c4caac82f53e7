"""What the HTTP requests of a run got: every one sent is answered, errored with a status, or lost
(no HTTP response at all); counted in all, by message and second by second."""
from __future__ import annotations

from pydantic import BaseModel

from loadtests.loop import Outcome
from loadtests.stats import Percentiles, percentiles

LOST_INPUT = "input was lost"  # the message of a head whose stored input died with its owner


class Tally(BaseModel):
    sent: int
    answered: int  # 200
    degraded: int  # 200 with some non-target head in errors[]
    errored: dict[str, int]  # non-200 status -> count
    lost: int  # no HTTP response at all
    lost_reasons: dict[str, int]
    refusals_without_retry_after: int  # 503s that did not say when to come back
    answered_latency: Percentiles
    refusal_latency: Percentiles  # the 503s: how fast overload is refused
    # what the answers said went wrong, a message counted once per answer that carries it
    by_message: dict[str, int] = {}
    inputs_lost_target: int = 0  # non-200: the target head could not read its input
    inputs_lost_non_target: int = 0  # 200 with a non-target head's errors[] saying so

    @property
    def by_status(self) -> dict[str, int]:
        counts = {"200": self.answered, **self.errored, "no answer": self.lost}
        return {status: n for status, n in counts.items() if n}


def messages_of(outcome: Outcome) -> list[str]:
    """What an answer says went wrong: its error message, or each non-target head's in errors[]."""
    status, body = outcome.status, outcome.body
    if status is None:
        return [f"no answer: {outcome.lost}"]
    if status == 200:
        errors = body.get("errors") if isinstance(body, dict) else None
        return [f"{e.get('head')}: {e.get('message')}" for e in errors or [] if isinstance(e, dict)]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return [f"{status} {body['error'].get('message')}"]
    return [f"{status} {str(body)[:120]}"]


def _count(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


def is_degraded(o: Outcome) -> bool:
    """A 200 that went out without some non-target head (listed in errors[])."""
    return o.status == 200 and isinstance(o.body, dict) and bool(o.body.get("degraded"))


def tally(outcomes: list[Outcome]) -> Tally:
    errored: dict[str, int] = {}
    lost_reasons: dict[str, int] = {}
    by_message: dict[str, int] = {}
    lost_input = {True: 0, False: 0}  # the answer was a 200
    for o in outcomes:
        if o.status is None:
            _count(lost_reasons, o.lost or "?")
        elif o.status != 200:
            _count(errored, str(o.status))
        messages = messages_of(o)
        for message in messages:
            _count(by_message, message)
        lost_input[o.status == 200] += sum(LOST_INPUT in m for m in messages)
    refused = [o for o in outcomes if o.status == 503]
    return Tally(
        sent=len(outcomes), answered=sum(o.status == 200 for o in outcomes), degraded=sum(map(is_degraded, outcomes)),
        errored=dict(sorted(errored.items())), lost=sum(lost_reasons.values()), lost_reasons=lost_reasons,
        refusals_without_retry_after=sum(o.retry_after is None for o in refused),
        answered_latency=percentiles([o.latency_s for o in outcomes if o.status == 200]),
        refusal_latency=percentiles([o.latency_s for o in refused]),
        by_message=dict(sorted(by_message.items(), key=lambda kv: -kv[1])),
        inputs_lost_target=lost_input[False], inputs_lost_non_target=lost_input[True],
    )


class Second(BaseModel):
    """What the requests sent during one second of the run got."""

    t: int
    sent: int = 0
    ok: int = 0  # 200
    degraded: int = 0  # of the 200s
    refused: int = 0  # 503
    other: int = 0  # any other status
    lost: int = 0  # no HTTP response


def per_second(outcomes: list[Outcome]) -> list[Second]:
    rows: dict[int, Second] = {}
    for o in outcomes:
        row = rows.setdefault(int(o.sent_at), Second(t=int(o.sent_at)))
        row.sent += 1
        field = {None: "lost", 200: "ok", 503: "refused"}.get(o.status, "other")
        setattr(row, field, getattr(row, field) + 1)
        row.degraded += is_degraded(o)
    return [rows[t] for t in sorted(rows)]

