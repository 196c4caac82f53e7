"""The open loop and the one tally of the fault, soak and lost-inputs runs: every request sent ends
as an answer or as lost, counted by status and second by second."""
import asyncio

from loadtests.traffic import Outcome, open_loop
from loadtests.results import per_second, tally


def test_the_open_loop_keeps_its_rate_and_every_outcome_a_failing_call_included():
    async def call(request: dict) -> list[str]:
        if request["n"] == 2:
            raise ConnectionError("refused")
        await asyncio.sleep(0.05)  # slower than the rate: the loop does not wait for answers
        return []

    run = asyncio.run(open_loop(call, [{"n": i} for i in range(5)], rate=50, seconds=0.2))
    assert len(run.outcomes) == 10
    assert [round(o.sent_at, 1) for o in run.outcomes] == sorted(round(o.sent_at, 1) for o in run.outcomes)
    assert run.outcomes[-1].sent_at < 0.2 + 0.05
    assert [o.lost for o in run.outcomes].count("ConnectionError") == 2 and run.failures == 2


def test_the_tally_counts_answers_refusals_and_lost_requests_per_second():
    degraded = {"target": {"head": "span", "output": {}}, "degraded": True, "errors": [{"head": "summary", "message": "timeout"}]}
    outcomes = [
        Outcome(status=200, body={"target": {}}, sent_at=0.1, latency_s=0.2),
        Outcome(status=200, body=degraded, sent_at=0.5, latency_s=0.4),
        Outcome(status=503, body="Service Unavailable", retry_after="1", sent_at=1.2, latency_s=0.01),
        Outcome(status=503, body="Service Unavailable", sent_at=1.3, latency_s=0.02),
        Outcome(status=504, body={"error": {"message": "no answer within 5 s"}}, sent_at=1.4, latency_s=5.0),
        Outcome(lost="ReadTimeout", sent_at=2.0, latency_s=60.0),
    ]
    t = tally(outcomes)
    assert (t.sent, t.answered, t.degraded, t.lost) == (6, 2, 1, 1)
    assert t.errored == {"503": 2, "504": 1} and t.lost_reasons == {"ReadTimeout": 1}
    assert t.refusals_without_retry_after == 1 and t.refusal_latency.n == 2 and t.answered_latency.max_ms == 400.0
    assert t.by_message["summary: timeout"] == 1 and t.by_message["504 no answer within 5 s"] == 1
    rows = {s.t: s for s in per_second(outcomes)}
    assert (rows[0].sent, rows[0].ok, rows[0].degraded) == (2, 2, 1)
    assert (rows[1].refused, rows[1].other, rows[2].lost) == (2, 1, 1)
