"""The host cost counters: stages nest without counting time twice, and the split per request
sums to the total, whatever the processes and stages."""
import pytest

from service.pipeline.hostcost import FORWARD, HEALTH_CHECK, TOTAL, StageClock, host_split, idle_rates


def burn(n: int = 200_000) -> int:
    return sum(i * i for i in range(n))


def test_a_nested_stage_is_taken_out_of_its_parent():
    clock = StageClock()
    with clock.stage("batch"):
        burn()
        with clock.stage("decode"):
            burn(400_000)
    stages = clock.snapshot()["stages"]
    assert stages["decode"] > 0 and stages["batch"] > 0
    # decode burnt twice what batch's own part did: the parent does not also count the child
    assert stages["batch"] < stages["decode"]


def test_the_split_sums_to_the_total_and_leaves_the_forward_out():
    before = {"router": {"process_cpu_s": 10.0, "stages": {"router": 1.0, "schema_json": 2.0}},
              "backbone": {"process_cpu_s": 20.0, "stages": {"tokenise": 1.0, FORWARD: 5.0, "decode": 1.0}}}
    after = {"router": {"process_cpu_s": 10.5, "stages": {"router": 1.1, "schema_json": 2.2}},
             "backbone": {"process_cpu_s": 23.0, "stages": {"tokenise": 1.3, FORWARD: 7.0, "decode": 1.4, "payload": 0.1}},
             "http_proxy": {"process_cpu_s": 4.0, "stages": {}}}
    split = host_split(before, after, requests=100)
    assert split[FORWARD] == pytest.approx(20.0)  # 2 s of forward over 100 requests
    parts = {k: v for k, v in split.items() if k not in (TOTAL, FORWARD)}
    assert sum(parts.values()) == pytest.approx(split[TOTAL])
    # everything but the forward: router 0.5 s + backbone (3 - 2) s; the proxy has no reading
    # before, so it counts from its first one (0 here)
    assert split[TOTAL] == pytest.approx((0.5 + 1.0) * 1000 / 100)
    assert split["router: other"] == pytest.approx((0.5 - 0.1 - 0.2) * 10)
    assert split["backbone: other"] == pytest.approx((1.0 - 0.3 - 0.4 - 0.1) * 10)
    assert split["tokenise"] == pytest.approx(3.0)


def test_snapshots_of_a_real_clock_split_into_its_stages():
    clock = StageClock()
    first = {"p": clock.snapshot()}
    with clock.stage("tokenise"):
        burn()
    with clock.stage(FORWARD, with_workers=True):
        burn()
    split = host_split(first, {"p": clock.snapshot()}, requests=2)
    assert split["tokenise"] > 0 and split[FORWARD] > 0
    assert sum(v for k, v in split.items() if k not in (TOTAL, FORWARD)) == pytest.approx(split[TOTAL])


def test_background_cpu_measured_idle_is_taken_out_of_the_rest():
    before = {"router": {"process_cpu_s": 0.0, "stages": {}}, "controller": {"process_cpu_s": 0.0, "stages": {}}}
    idle = idle_rates(before, {"router": {"process_cpu_s": 0.05, "stages": {}}, "controller": {"process_cpu_s": 0.5, "stages": {}}}, 5.0)
    assert idle == pytest.approx({"router": 0.01, "controller": 0.1})
    # 10 s of a cell: the controller only did its background work, the router 1 s more for 10 requests
    after = {"router": {"process_cpu_s": 1.1, "stages": {}}, "controller": {"process_cpu_s": 1.0, "stages": {}}}
    split = host_split(before, after, requests=10, idle=idle, seconds=10.0)
    assert split["router: other"] == pytest.approx(100.0) and split["controller: other"] == pytest.approx(0.0)
    assert split[TOTAL] == pytest.approx(100.0)


def test_background_cpu_is_taken_out_of_a_process_that_has_stages_too():
    # A replica names stages (tokenise, decode, forward) and also has background work (Serve's
    # loops): the idle rate of its unnamed CPU comes out of its rest over the cell's seconds,
    # whatever its stages add up to.
    idle_before = {"router": {"process_cpu_s": 0.0, "stages": {"tokenise": 0.0}}}
    idle_after = {"router": {"process_cpu_s": 0.6, "stages": {"tokenise": 0.0, HEALTH_CHECK: 0.4}}}
    idle = idle_rates(idle_before, idle_after, 5.0)
    assert idle == pytest.approx({"router": 0.04})  # 0.2 s unnamed in 5 s; the health checks are their own stage
    before = {"router": {"process_cpu_s": 10.0, "stages": {"tokenise": 1.0, FORWARD: 3.0, HEALTH_CHECK: 0.4}}}
    # 20 s with 100 requests: 0.5 s tokenise, 8 s forward, 0.8 s health checks, 1.2 s unnamed of which 0.8 s is background
    after = {"router": {"process_cpu_s": 20.5, "stages": {"tokenise": 1.5, FORWARD: 11.0, HEALTH_CHECK: 1.2}}}
    split = host_split(before, after, requests=100, idle=idle, seconds=20.0)
    assert split["router: other"] == pytest.approx((1.2 - 0.04 * 20) * 10)
    assert split["tokenise"] == pytest.approx(5.0)
    assert split[TOTAL] == pytest.approx(9.0)
    # the forward pass and the health checks are reported, outside the host cost
    assert split[FORWARD] == pytest.approx(80.0) and split[HEALTH_CHECK] == pytest.approx(8.0)
