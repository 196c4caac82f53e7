"""`python -m training controls` then `python -m training analyze` on a tiny checkpoint: every
artefact of the report is written, with each variant measured."""
from __future__ import annotations

import json

import pytest

from training.__main__ import main
from model.checkpoint import read_manifest
from training.analysis.baselines import baselines
from training.analysis.run import AnalysisError, same_variant
from training.testing import make_random_checkpoint

ARTEFACTS = ("report.md", "findings.json", "examples.md", "numeric.png", "numeric_in_passage.png", "yesno.png",
             "qa_summary.png")
RULES = {b.name for b in baselines()} | {"random span"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("analysis") / "tiny"
    make_random_checkpoint(path, seed=0)
    return path


def test_controls_then_analyze_write_every_artefact(tiny, tmp_path, capsys):
    controls = tmp_path / "controls"
    assert main(["controls", "--checkpoint", str(tiny), "--out", str(controls), "--heads", "span,summary",
                 "--steps", "2", "--set", "data.eval_per_setting=6", "--quiet"]) == 0
    control = read_manifest(controls / "span")
    assert [h.name for h in control.heads] == ["span"]
    assert set(control.tasks) == set(read_manifest(tiny).head("span").tasks)  # the span head's own tasks
    assert control.training["steps"] == 2
    assert control.training["config"]["data"]["eval_per_setting"] == 6

    out = tmp_path / "report"
    assert main(["analyze", "--checkpoint", str(tiny), "--out", str(out), "--controls", str(controls),
                 "--n", "12", "--examples", "3", "--quiet"]) == 0
    for name in ARTEFACTS:
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "findings.json").read_text())
    assert set(data["variants"]) == {"multi-task", "single-task", "random heads"} | RULES
    numeric = data["findings"]["numeric"]["metrics"]
    # The single-task control has a span head but no multi-span head (not asked for).
    assert set(numeric["span_topk_recall"]) == {"multi-task", "single-task", "random heads"} | RULES
    assert set(numeric["multispan_f1"]) == {"multi-task", "random heads"} | RULES
    # Every judged finding's verdict pairs the multi-task model with every rule control too; the
    # answer-in-passage questions are reported apart, without one.
    for key, finding in data["findings"].items():
        assert bool(finding["verdicts"]) == (key != "numeric_in_passage")
        for verdict in finding["verdicts"].values():
            assert RULES <= set(verdict["differences"]) == set(verdict["controls"])
    assert set(data["findings"]["numeric"]["by_group"]["span_topk_recall"]["multi-task"]) <= {"difference", "sum", "count"}
    assert set(data["findings"]["numeric_in_passage"]["by_group"]["span_topk_recall"]["multi-task"]) <= {"max", "min"}
    # each operation's own paired differences against the same controls, beside the pooled verdict
    per_operation = data["findings"]["numeric"]["by_group_differences"]["span_topk_recall"]
    assert per_operation and set(per_operation) <= {"difference", "sum", "count"}
    assert all(RULES <= set(per_control) for per_control in per_operation.values())
    assert {"span_tokens", "gold_tokens"} <= set(numeric)
    for finding in data["findings"].values():
        for per_variant in finding["metrics"].values():
            for est in per_variant.values():
                assert est["low"] <= est["mean"] <= est["high"]
    report = (out / "report.md").read_text()
    assert "## Findings" in report and "random heads" in report and "Paired differences" in report
    # The target metrics beside each verdict, and the multi- vs single-task table (the span
    # control targets squad as the multi-task span head does; no control of the number head).
    assert "target `drop_number` em, multi-task (routed): " in report
    assert "target `drop_number` em, multi-task (number head alone): " in report
    assert "target `squad` em, single-task: " in report
    assert "| squad | em |" in report and "| drop_number (number head alone) | em_number |" in report
    examples = (out / "examples.md").read_text()
    assert examples.count("### 1.") == 4 and "target `number`" in examples
    assert "no single-task control for heads ['multispan']" in capsys.readouterr().out


def test_analyze_names_missing_controls(tiny, tmp_path, capsys):
    assert main(["analyze", "--checkpoint", str(tiny), "--out", str(tmp_path / "r"),
                 "--controls", str(tmp_path / "nowhere"), "--quiet"]) == 2
    assert "python -m training controls" in capsys.readouterr().err


def test_controls_refuse_an_unknown_head(tiny, tmp_path, capsys):
    assert main(["controls", "--checkpoint", str(tiny), "--out", str(tmp_path), "--heads", "spn", "--quiet"]) == 2
    assert "'spn'" in capsys.readouterr().err


def test_analyze_pools_the_seeds_of_one_variant(tiny, tmp_path):
    other = tmp_path / "seed1"
    make_random_checkpoint(other, seed=1)
    out = tmp_path / "report"
    assert main(["analyze", "--checkpoint", str(tiny), str(other), "--out", str(out), "--n", "8", "--examples", "1",
                 "--findings", "numeric,yesno", "--quiet"]) == 0
    data = json.loads((out / "findings.json").read_text())
    assert [c["seed"] for c in data["checkpoints"]] == [0, 1]
    assert set(data["findings"]) == {"numeric", "yesno"}
    yesno = data["findings"]["yesno"]
    assert yesno["seeds"] == 2
    estimate = yesno["metrics"]["span_top1_hit"]["multi-task"]
    assert estimate["n"] == 2 * yesno["n"] and estimate["seeds"] == 2
    # Each seed's model answered the target tasks.
    assert len(data["targets"]["multi-task"]) == 2 and all("drop_number" in s for s in data["targets"]["multi-task"])


def test_seeds_of_different_variants_are_refused(tiny):
    manifest = read_manifest(tiny)
    seed = manifest.model_copy(deep=True)
    seed.training["config"]["optim"]["seed"] = 7
    same_variant([manifest, seed], ["a", "b"])  # only the seed differs: fine
    other = manifest.model_copy(deep=True)
    other.training["config"]["optim"]["steps"] = 999
    other.training["config"]["data"]["seed"] = 3
    with pytest.raises(AnalysisError, match=r"differ in \['data.seed', 'optim.steps'\]"):
        same_variant([manifest, other], ["a", "b"])


def test_analyze_wants_one_controls_directory_per_checkpoint(tiny, tmp_path, capsys):
    assert main(["analyze", "--checkpoint", str(tiny), str(tiny), "--out", str(tmp_path / "r"),
                 "--controls", str(tmp_path), "--quiet"]) == 2
    assert "one --controls directory per checkpoint" in capsys.readouterr().err


def test_a_control_trains_on_as_many_examples_of_its_tasks_as_the_multi_task_head_saw():
    from training.config import PRESETS_DIR, load_config
    from training.controls import matched_steps
    from training.sampling import task_shares

    config = load_config(PRESETS_DIR / "paper" / "numeric.yaml")
    pools = {"drop_number": 4800, "drop_span": 1600, "drop_spans": 1600}  # drop_number weighted 1.5
    shares = task_shares(pools, "proportional", {"drop_number": 1.5})
    assert shares == pytest.approx({"drop_number": 7200 / 10400, "drop_span": 1600 / 10400, "drop_spans": 1600 / 10400})
    assert matched_steps(config, "multispan", 800, pools) == round(800 * 1600 / 10400)  # 123
    assert matched_steps(config, "span", 800, pools) == round(800 * 8800 / 10400)  # drop_span + drop_number
    with pytest.raises(ValueError, match="--steps"):
        matched_steps(config, "span", 800, {})


def test_controls_without_steps_take_the_examples_the_checkpoint_drew(tiny, tmp_path, capsys):
    # a random checkpoint trained no steps and drew nothing: the control is told to pass --steps
    assert main(["controls", "--checkpoint", str(tiny), "--out", str(tmp_path), "--heads", "span", "--quiet"]) == 2
    assert "--steps" in capsys.readouterr().err
