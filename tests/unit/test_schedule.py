"""The learning rate follows the steps that really run: warm-up, then linear decay to zero at the
last step, whether the run ends at its step count or a time budget ends it first; and the recipe's
options refuse unknown values before any training."""
from __future__ import annotations

import json

import pytest
import torch

from training.__main__ import main
from training.config import ConfigError, load_config
from training.schedule import LinearSchedule
from training.train import train


def _schedule(steps=100, warmup=0.1, budget=None):
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    return LinearSchedule(opt, steps, warmup, budget), opt


def test_fixed_steps_warm_up_then_reach_zero_at_the_last_step():
    schedule, opt = _schedule()
    rates = []
    for step in range(100):
        schedule.set_rate(step, elapsed_s=0.0)
        rates.append(opt.param_groups[0]["lr"])
    assert 0 < rates[0] < rates[5] < rates[10] and max(rates) == pytest.approx(1e-3, rel=0.05)
    assert rates[-1] <= 0.02 * 1e-3 and rates == sorted(rates[:11]) + rates[11:]
    assert schedule.finished(100, 0.0)


def test_a_time_budget_anneals_by_time_and_ends_the_run():
    schedule, opt = _schedule(steps=10_000, warmup=0.05, budget=60.0)
    schedule.set_rate(50, elapsed_s=30.0)  # half the budget: half the decay, far fewer steps
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5 / 0.95, rel=1e-6)
    schedule.set_rate(51, elapsed_s=59.9)
    assert opt.param_groups[0]["lr"] < 0.01 * 1e-3
    assert schedule.finished(52, 60.0) and not schedule.finished(52, 59.0)


def test_a_budgeted_run_stops_with_the_learning_rate_near_zero(tmp_path):
    out = tmp_path / "budget"
    config = load_config(preset="tiny", overrides={
        "data.synthetic": {"numeric": 60, "multihop": 40, "qa_summary": 40}, "data.eval_per_setting": 6,
        "optim.steps": 100_000, "optim.eval_every": 100_000, "optim.time_budget_s": 3.0})
    manifest = train(config, out, progress=False)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    stop = [r for r in records if r["kind"] == "stop"]
    assert len(stop) == 1 and 0 < stop[0]["step"] < 100_000 and manifest.training["steps"] == stop[0]["step"]
    assert stop[0]["train_seconds"] >= 3.0
    # Annealed, not cut off near the peak: the last step ran at most about one step's share of the
    # budget away from zero (a busy machine runs few, long steps in 3 s).
    step_share = stop[0]["train_seconds"] / stop[0]["step"] / 3.0
    assert stop[0]["lr"] <= config.optim.lr * min(0.25, 2 * step_share / (1 - config.optim.warmup_ratio) + 0.01)


@pytest.mark.parametrize("override, message", [
    ({"optim.task_weights": {"yes_no": 2.0}}, "optim.task_weights: unknown tasks ['yes_no']; valid tasks: ["),
    ({"optim.task_weights": {"hotpot_yesno": 0}}, "weights must be > 0"),
    ({"heads.yesno.config.pooling": "max"}, "unknown pooling mode 'max'; valid modes: ['mean', 'cls_question_context', 'cls', 'question_attention', 'compare_reads']"),
    ({"backbone.digits": "single"}, "backbone.digits: Input should be 'split' or 'wordpiece'"),
])
def test_unknown_recipe_values_fail_before_training_with_the_valid_ones(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(preset="quick", overrides=override)
    assert message in str(err.value) and "quick.yaml" in str(err.value)


def test_the_cli_refuses_a_bad_recipe_value_before_any_work(tmp_path, capsys):
    assert main(["train", "--preset", "tiny", "--out", str(tmp_path / "x"), "--set", "heads.yesno.config.pooling=max"]) == 2
    assert "valid modes" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_presets_train_a_fixed_number_of_steps():
    # quality must not depend on how busy the machine is: no preset stops on the clock
    for preset in ("tiny", "quick", "default"):
        assert load_config(preset=preset).optim.time_budget_s is None, preset
