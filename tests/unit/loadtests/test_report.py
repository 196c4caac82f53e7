import json

import pytest

from loadtests.report import evaluate_goals, load, markdown, per_head_cost, write
from loadtests.results import Batching, BytesPerRequest, Cell, CellResult, ModeResult, Plan, Report
from loadtests.results import summarize

PLAN = Plan(checkpoint="ckpt", seconds=1, concurrency=[1, 8, 32], head_counts=[1, 2, 4, 8], heads_concurrency=8,
            head_order=["span", "tagging", "cls", "yesno", "a", "b", "number", "summary"], linear_heads=6,
            batching=Batching(max_batch_size=16, wait_s=0.002))


def cell_result(cell: Cell, throughput: float, p50: float = 100.0, p99: float = 150.0) -> CellResult:
    # 10 latencies whose p50 / p99 are the given ones (p99 lies 0.91 of the way from the 9th to
    # the 10th value); throughput = 10 / seconds.
    latencies = [p50] * 9 + [p50 + (p99 - p50) / 0.91]
    return CellResult(cell=cell, summary=summarize(latencies, 10 / throughput), foreign_cpu=0.1, latencies_ms=latencies)


def mode(name: str, by_concurrency: dict[int, float], by_heads: dict[int, float], p99: float = 150.0) -> ModeResult:
    cells = [cell_result(Cell(concurrency=c), t, p99=p99) for c, t in by_concurrency.items()]
    cells += [cell_result(Cell(concurrency=8, heads=k), t) for k, t in by_heads.items()]
    return ModeResult(mode=name, peak_rss_mib=500, memory_note="", cells=cells)


def report() -> Report:
    return Report(plan=PLAN, started="now", device_name="test", modes=[
        mode("inprocess", {1: 10, 8: 20, 32: 20}, {1: 40, 2: 39, 4: 37, 8: 20}),
        mode("fanout", {1: 5, 8: 12, 32: 15}, {1: 20, 2: 18, 4: 15, 8: 12}, p99=300),
        mode("colocated", {1: 9, 8: 19, 32: 19.5}, {1: 38, 2: 37.5, 4: 37, 8: 19}),
        mode("per_task", {1: 2, 8: 3, 32: 3}, {1: 40, 2: 20, 4: 5, 8: 2.5}),
    ], bytes_per_request=BytesPerRequest(requests=3, tokens_mean=150, stored_float32=230_000, stored_float16=115_000,
                                         padded_float32=300_000, cls_only_float16=768, replica_heads=8))


MODEL_MS = 50.0  # the model-only mode's CPU per request at the goal cell


def with_cpu(m: ModeResult, total: float) -> ModeResult:
    """CPU ms per request at the goal cell, split over two processes, as measure.py records it."""
    for c in m.cells:
        if c.cell == Cell(concurrency=8, heads=4):
            c.breakdown.update({"cpu_ms_per_request.router": total / 2, "cpu_ms_per_request.backbone": total / 2,
                                "cpu_ms_per_request.total": total, "cpu_ms_per_request.total with background": total + 1})
    return m


def with_model_only(r: Report) -> Report:
    r.modes.insert(0, with_cpu(mode("model_only", {}, {4: 45}), MODEL_MS))
    return r


def test_goals_compare_the_right_cells():
    r = with_model_only(report())
    with_cpu(r.mode("inprocess"), MODEL_MS + 2.5)
    with_cpu(r.mode("colocated"), MODEL_MS + 9.0)
    goals = {g.name: g for g in evaluate_goals(r)}
    # the goals are read at the sweep's concurrency with 4 linear heads
    fan = goals["fan-out / in-process throughput at c=8, 4 heads"]
    assert fan.value == pytest.approx(15 / 37) and fan.met is False
    colocated = goals["colocated / in-process throughput at c=8, 4 heads"]
    assert colocated.value == pytest.approx(1.0) and colocated.met is True
    assert goals["in-process host CPU ms per request at c=8, 4 heads"].met is True
    assert goals["colocated host CPU ms per request at c=8, 4 heads"].value == pytest.approx(9.0)
    assert goals["colocated host CPU ms per request at c=8, 4 heads"].met is False
    vs_per_task = goals["fan-out / one-model-per-task throughput, 4 heads"]
    assert vs_per_task.value == pytest.approx(3.0) and vs_per_task.met is True
    assert goals["fanout: p99 / p50 at c=8"].value == pytest.approx(3.0, rel=0.01)
    assert goals["fanout: p99 / p50 at c=8"].met is False
    assert goals["colocated: p99 / p50 at c=8"].met is True


def test_the_cpu_table_lists_every_process_and_what_is_beyond_the_model():
    r = with_model_only(report())
    with_cpu(r.mode("inprocess"), MODEL_MS + 2.5)
    text = markdown(r)
    assert "CPU per request at c=8, 4 heads" in text
    assert "| router | 25.00 | 26.25 |" in text and "| total | 50.00 | 52.50 |" in text
    assert "| **host (beyond the model)** | 0.00 | 2.50 |" in text


def test_host_cost_is_not_measured_without_the_model_alone():
    # the model-only mode is the forward passes' cost; without it no figure can say what is beyond them
    r = report()
    with_cpu(r.mode("colocated"), 9.0)
    goals = {g.name: g for g in evaluate_goals(r)}
    assert goals["colocated host CPU ms per request at c=8, 4 heads"].met is None


def test_cost_per_linear_head_uses_the_largest_all_linear_count():
    r = report()
    cost, detail = per_head_cost(r.mode("inprocess"), 8, PLAN.head_counts, PLAN.linear_heads)
    assert cost == pytest.approx(1 - (37 / 40) ** (1 / 3))
    assert "1 -> 4 linear heads" in detail
    assert per_head_cost(r.mode("inprocess"), 8, [1], PLAN.linear_heads)[0] is None


def test_a_mode_not_run_leaves_its_goals_unmeasured():
    r = report()
    r.modes = [m for m in r.modes if m.mode != "fanout"]
    goals = {g.name: g for g in evaluate_goals(r)}
    assert goals["fan-out / in-process throughput at c=8, 4 heads"].met is None
    assert "fanout: p99 / p50 at c=8" not in goals


def test_the_direct_ingress_mode_is_held_to_the_colocated_goals_and_rendered(tmp_path):
    r = report()
    r.modes.append(mode("colocated_direct", {1: 9, 8: 19, 32: 19.5}, {1: 38, 2: 37.5, 4: 29.6, 8: 19}))
    with_model_only(r)
    with_cpu(r.mode("colocated_direct"), MODEL_MS + 7.0)
    r.goals = evaluate_goals(r)
    goals = {g.name: g for g in r.goals}
    ratio = goals["colocated, direct ingress / in-process throughput at c=8, 4 heads"]
    assert ratio.value == pytest.approx(29.6 / 37) and ratio.met is True
    host = goals["colocated, direct ingress, host CPU ms per request at c=8, 4 heads"]
    assert host.value == pytest.approx(7.0) and host.met is True
    text = markdown(r)
    assert "| c3. Serve, heads colocated, direct ingress (no proxy hop) | 38.0 | 37.5 | 29.6 | 19.0 |" in text
    write(r, tmp_path)
    assert load(tmp_path / "bench.json") == r


def test_markdown_and_files(tmp_path):
    r = report()
    r.goals = evaluate_goals(r)
    text = markdown(r)
    assert "| b. Serve, heads as replicas | c=32 | 15.0 |" in text
    assert "0.75x" in text and "**missed**" in text
    assert "| d. one full model per task | 40.0 | 20.0 | 5.0 | 2.5 |" in text
    assert "224.6 KiB float32" in text
    paths = write(r, tmp_path)
    assert {p.name for p in paths} == {"bench.json", "bench.md", "throughput_vs_concurrency.png", "latency_distribution.png", "heads_cost.png"}
    assert all(p.stat().st_size > 0 for p in paths)
    assert load(tmp_path / "bench.json") == r
    assert json.loads((tmp_path / "bench.json").read_text())["plan"]["head_order"][0] == "span"


def test_a_cell_with_no_answer_survives_the_json_round_trip(tmp_path):
    r = report()
    silent = Cell(concurrency=32, heads=4)
    r.mode("colocated").cells.append(CellResult(cell=silent, summary=summarize([], 10.0, failures=7), foreign_cpu=0.1, latencies_ms=[]))
    write(r, tmp_path)
    assert "NaN" not in (tmp_path / "bench.json").read_text()  # standard JSON: null
    again = load(tmp_path / "bench.json").mode("colocated").at(silent).summary
    assert again.requests == 0 and again.failures == 7 and again.throughput == 0
    assert all(v != v for v in (again.p50_ms, again.p99_ms, again.mean_ms))  # NaN again


def test_the_cluster_environment_a_run_was_given_is_parsed_kept_and_printed(tmp_path):
    from loadtests.bench import parse_args

    args = parse_args(["--cluster-env", "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD=0", "--cluster-env", "A=b=c"])
    assert args.cluster_env == {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0", "A": "b=c"}
    with pytest.raises(SystemExit):
        parse_args(["--cluster-env", "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD"])
    r = report()
    r.cluster_env = args.cluster_env
    assert "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD" in markdown(r)
    write(r, tmp_path)
    assert load(tmp_path / "bench.json").cluster_env == args.cluster_env
    assert "cluster environment" not in markdown(report())  # a run with cluster_env.py's alone says nothing extra
