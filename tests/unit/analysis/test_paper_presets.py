"""The per-setting presets the findings are measured on: nothing in them supervises a non-target
head (or the backbone) toward the arguments or the evidence, and each trains and analyses end to
end (on a tiny random backbone, a few steps)."""
from __future__ import annotations

import json

import pytest

from training.__main__ import main
from training.config import PRESETS_DIR, load_config
from training.analysis.roles import ROLES

PAPER = ("numeric", "multihop", "qa_summary")


@pytest.mark.parametrize("setting", PAPER)
def test_no_head_is_taught_where_the_arguments_or_the_evidence_are(setting):
    config = load_config(PRESETS_DIR / "paper" / f"{setting}.yaml")
    for head in config.heads:
        assert not head.config.get("supervise_reads"), head.name  # reads taught the compared values
        assert head.config.get("writes", "text") == "text", head.name  # an expression names its arguments
        assert not head.config.get("copy_numbers"), head.name
    assert set(config.data.synthetic) == {setting}  # the paper trains one model per setting
    assert config.optim.time_budget_s is None and config.optim.eval_every == config.optim.steps


@pytest.mark.parametrize("setting", PAPER)
def test_the_preset_trains_and_is_analysed_on_a_tiny_backbone(setting, tmp_path):
    out = tmp_path / setting
    small = {"numeric": 40, "multihop": 40, "qa_summary": 40}
    assert main(["train", "--config", str(PRESETS_DIR / "paper" / f"{setting}.yaml"), "--out", str(out), "--quiet",
                 "--set", "backbone.source=tiny", "--set", "optim.freeze_layers=1", "--set", "optim.steps=2", "--set", "optim.eval_every=2",
                 "--set", f"data.synthetic={{{setting}: {small[setting]}}}", "--set", "data.eval_per_setting=4"]) == 0
    finding = {"numeric": "numeric", "multihop": "yesno", "qa_summary": "qa_summary"}[setting]
    assert main(["analyze", "--checkpoint", str(out), "--out", str(tmp_path / "report"), "--n", "6",
                 "--examples", "1", "--findings", finding, "--quiet"]) == 0
    data = json.loads((tmp_path / "report" / "findings.json").read_text())
    assert data["findings"][finding]["verdicts"]
    assert any(h in ROLES for h in json.loads((out / "manifest.json").read_text())["tasks"].values())
