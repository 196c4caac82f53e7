"""The lost-inputs load test's counting and verdict: an answer that says its input was lost fails
the run unless a replica died meanwhile."""
from __future__ import annotations

from pathlib import Path

from loadtests.loop import Outcome
from loadtests.lost_inputs import lost_classes, verdict
from loadtests.tally import tally

LOST_503 = {"error": {"code": "unavailable", "message": "target head 'span' unavailable: its input was lost with the "
                      "replica that stored it. Retry after 1 s.", "request_id": "r1"}}
DEGRADED_200 = {"target": {"head": "span", "output": {}}, "errors": [
    {"head": "summary", "kind": "unavailable", "message": "its input was lost with the replica that stored it"},
    {"head": "number", "kind": "timeout", "message": "no answer within 5 s"}]}


def report(lost_target: int, lost_non_target: int, died: dict[str, int]) -> dict:
    return {"lost_inputs": {"target_503": lost_target, "non_target_errors": lost_non_target},
            "replicas_died": died, "lost_exception_classes": {"ReferenceCountingAssertionError": 1}}


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


def test_a_lost_input_fails_the_run_only_when_no_replica_died():
    assert verdict(report(0, 0, {}))[0] == 0
    assert verdict(report(1, 0, {}))[0] == 1
    assert verdict(report(0, 3, {}))[0] == 1
    assert verdict(report(2, 0, {"backbone": 1}))[0] == 0


def test_the_exception_class_is_read_from_the_replica_logs(tmp_path: Path):
    logs = tmp_path / "session_latest" / "logs" / "serve"
    logs.mkdir(parents=True)
    (logs / "replica_wiyh_router_x.log").write_text(
        "WARNING request r1: head_span lost its input: ReferenceCountingAssertionError\n"
        "WARNING request r2: head_span lost its input: ReferenceCountingAssertionError\n")
    (tmp_path / "session_latest" / "logs" / "worker-1.err").write_text("request r3: head_summary lost its input: OwnerDiedError\n")
    assert lost_classes(tmp_path) == {"ReferenceCountingAssertionError": 2, "OwnerDiedError": 1}
