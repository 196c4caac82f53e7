"""The lost-inputs run's counting and verdict: an answer that says its input was lost fails the run
unless a replica went away meanwhile; the router's log names the exception class."""
from __future__ import annotations

from pathlib import Path

from loadtests.traffic import Outcome
from loadtests.lost_inputs import verdict
from loadtests.runs import INPUT_LOST, RETRIED, RunReport, logged
from loadtests.results import tally

LOST_503 = {"error": {"code": "unavailable", "message": "target head 'span' unavailable: its input was lost with the "
                      "replica that stored it. Retry after 1 s.", "request_id": "r1"}}
DEGRADED_200 = {"target": {"head": "span", "output": {}}, "errors": [
    {"head": "summary", "kind": "unavailable", "message": "its input was lost with the replica that stored it"},
    {"head": "number", "kind": "timeout", "message": "no answer within 5 s"}]}


def report(outcomes: list[Outcome], gone: dict[str, int]) -> RunReport:
    return RunReport(checkpoint="ckpt", started_utc="now", tally=tally(outcomes), per_second=[], replicas_gone=gone,
                     inputs_lost_logged={"ReferenceCountingAssertionError": 1})


def test_lost_inputs_are_counted_in_503s_and_in_a_200s_errors():
    counts = tally([
        Outcome(status=503, body=LOST_503),
        Outcome(status=200, body=DEGRADED_200),
        Outcome(status=200, body={"target": {"head": "span", "output": {}}, "errors": []}),
        Outcome(status=503, body="Service Unavailable"),  # Serve's proxy refusing past the router's queue
        Outcome(lost="ReadTimeout"),
    ])
    assert (counts.inputs_lost_target, counts.inputs_lost_non_target) == (1, 1)
    assert counts.by_status == {"503": 2, "200": 2, "no answer": 1}
    assert counts.by_message["number: no answer within 5 s"] == 1
    assert counts.lost == 1 and counts.lost_reasons == {"ReadTimeout": 1}  # no HTTP answer at all
    assert counts.model_dump()["by_status"] == counts.by_status  # written to the JSON report too


def test_a_lost_input_fails_the_run_only_when_no_replica_went_away():
    fine = Outcome(status=200, body={"target": {"head": "span", "output": {}}, "errors": []})
    assert verdict(report([fine], {}))[0] == 0
    assert verdict(report([Outcome(status=503, body=LOST_503)], {}))[0] == 1
    assert verdict(report([Outcome(status=200, body=DEGRADED_200)], {}))[0] == 1
    assert verdict(report([Outcome(status=503, body=LOST_503)], {"backbone": 1}))[0] == 0
    assert "ReferenceCountingAssertionError" in verdict(report([Outcome(status=503, body=LOST_503)], {}))[1]


def test_what_the_router_logged_is_read_from_every_log_of_the_cluster(tmp_path: Path):
    logs = tmp_path / "session_latest" / "logs" / "serve"
    logs.mkdir(parents=True)
    (logs / "replica_wiyh_router_x.log").write_text(
        "WARNING request r1: head_span lost its input: ReferenceCountingAssertionError\n"
        "WARNING request r2: head_span lost its input: ReferenceCountingAssertionError\n"
        "WARNING request r4: backbone replica died; calling it once more (4.20 s left)\n")
    (tmp_path / "session_latest" / "logs" / "worker-1.err").write_text("request r3: head_summary lost its input: OwnerDiedError\n")
    (tmp_path / "session_latest" / "logs" / "notes.txt").write_text("lost its input: NotALog\n")
    assert logged(tmp_path, INPUT_LOST) == {"ReferenceCountingAssertionError": 2, "OwnerDiedError": 1}
    assert sum(logged(tmp_path, RETRIED).values()) == 1
    assert logged(None, INPUT_LOST) == {}
