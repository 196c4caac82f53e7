"""The demo prints each head's answer in a line a person can read."""
from __future__ import annotations

from service.demo.__main__ import running_checkpoint
from service.demo.samples import describe, print_answer


def test_each_kind_reads_as_one_line():
    assert describe("span", {"text": "1974", "start": 10, "end": 14, "field": "context", "score": 0.5}) == \
        "'1974' [context 10:14] score 0.50"
    assert describe("tagging", {"spans": []}) == "no spans"
    assert describe("tagging", {"spans": [{"text": t} for t in "abcdef"]}) == "6 span(s): 'a', 'b', 'c', 'd', 'e' …"
    assert describe("classification", {"label": "yes", "score": 0.9}) == "yes (0.90)"
    assert describe("classification", {"label": "no", "score": 0.8, "compared": [{"text": "1917"}, {"text": "1956"}]}) == \
        "no (0.80), compared '1917' with '1956'"
    assert describe("generative", {"text": "x" * 200, "num_tokens": 40}).endswith("…' (40 tokens)")
    # a number decoder that wrote arithmetic shows what it computed
    assert describe("generative", {"text": "7", "num_tokens": 6, "expression": "24 - 17"}) == "'7' = 24 - 17 (6 tokens)"


def test_an_answer_prints_target_non_target_errors_and_explanation(capsys):
    answer = {
        "target": {"head": "number", "kind": "generative", "output": {"text": "4", "num_tokens": 2}},
        "non_target": [{"head": "span", "kind": "span", "output": {"text": "24", "start": 0, "end": 2, "field": "context", "score": 0.7}}],
        "errors": [{"head": "summary", "kind": "timeout", "message": "no answer within 5 s"}],
        "explanation": {"kind": "arithmetic", "consistent": True, "expression": "24 - 20 = 4", "message": "",
                        "arguments": [{"head": "span", "text": "24"}, {"head": "span", "text": "20"}]},
        "input": {"windows": 1}, "timings_ms": {"total": 12.0, "backbone_forward": 3.0},
    }
    print_answer("numeric", {"task": "drop_number", "inputs": {"question": "How many?", "context": "24 to 20"}}, answer, "4")
    out = capsys.readouterr().out
    assert "target     number       '4' (2 tokens)" in out
    assert "span         '24' [context 0:2]" in out
    assert "summary      did not answer: timeout: no answer within 5 s" in out
    assert "explanation: 24 - 20 = 4 from '24' (span), '20' (span)" in out


def test_nothing_listening_means_no_running_checkpoint():
    assert running_checkpoint("http://127.0.0.1:9") is None


def test_the_demo_cluster_counts_only_its_own_processes_and_stops_only_them(tmp_path):
    import subprocess
    import sys

    from service.demo.cluster import LocalCluster, stop_cluster

    mine = LocalCluster(temp_dir=str(tmp_path / "mine"), gcs_port=45001, dashboard_port=45002, metrics_port=45003)
    sleep = "import time; time.sleep(60)"
    ours = [subprocess.Popen([sys.executable, "-c", sleep, f"--log_dir={mine.temp_dir}/session_1/logs"]),
            subprocess.Popen([sys.executable, "-c", sleep, "--address=127.0.0.1:45001"])]
    theirs = [subprocess.Popen([sys.executable, "-c", sleep, f"--log_dir={tmp_path}/theirs/session_1/logs"]),
              subprocess.Popen([sys.executable, "-c", sleep, "--address=127.0.0.1:450011"])]
    try:
        assert sorted(p.pid for p in mine.processes()) == sorted(p.pid for p in ours)
        assert stop_cluster(mine, grace_s=5) == 2
        assert all(p.poll() is not None for p in ours)
        assert all(p.poll() is None for p in theirs)
    finally:
        for p in ours + theirs:
            p.kill()
            p.wait()


def test_the_demo_refuses_a_config_whose_deployments_section_breaks_a_rule_before_starting_ray(random_checkpoint, tmp_path):
    import pytest
    import yaml

    from service.demo.__main__ import DemoError, ROOT, start

    config = yaml.safe_load((ROOT / "deploy" / "serve_config.yaml").read_text())
    [router] = [d for d in config["applications"][0]["deployments"] if d["name"] == "router"]
    router["max_ongoing_requests"] = 4  # below the batch its user_config sets: Serve would take it as it is
    path = tmp_path / "serve_config.yaml"
    path.write_text(yaml.safe_dump(config))
    state = tmp_path / "state" / "cluster.json"
    with pytest.raises(DemoError, match=r"(?s)cannot be deployed:\n  application .wiyh. .*router.max_ongoing_requests 4 is below"):
        start(random_checkpoint, path, None, 0, 0, state, timeout_s=5)
    assert not state.exists(), "no cluster was started"
