"""`python -m training controls` then `python -m training analyze` on a tiny checkpoint: every
artefact of the report is written, with each variant measured."""
from __future__ import annotations

import json

import pytest

from training.__main__ import main
from model.checkpoint import read_manifest
from training.testing import make_random_checkpoint

ARTEFACTS = ("report.md", "findings.json", "examples.md", "numeric.png", "yesno.png", "qa_summary.png")


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
    degenerate = {"whole passage", "every number", "copy the question", "first sentence"}
    assert set(data["variants"]) == {"multi-task", "single-task", "random heads"} | degenerate
    numeric = data["findings"]["numeric"]["metrics"]
    # The single-task control has a span head but no multi-span head (not asked for).
    assert set(numeric["span_topk_recall"]) == {"multi-task", "single-task", "random heads"} | degenerate
    assert set(numeric["multispan_f1"]) == {"multi-task", "random heads"} | degenerate
    # Every finding's verdict is taken against the degenerate baselines too.
    for finding in data["findings"].values():
        for verdict in finding["verdicts"].values():
            assert degenerate <= set(verdict["controls"])
    assert {"span_tokens", "gold_tokens"} <= set(numeric)
    for finding in data["findings"].values():
        for per_variant in finding["metrics"].values():
            for est in per_variant.values():
                assert est["low"] <= est["mean"] <= est["high"]
    report = (out / "report.md").read_text()
    assert "## Findings" in report and "random heads" in report
    examples = (out / "examples.md").read_text()
    assert examples.count("### 1.") == 3 and "target `number`" in examples
    assert "no single-task control for heads ['multispan']" in capsys.readouterr().out


def test_analyze_names_missing_controls(tiny, tmp_path, capsys):
    assert main(["analyze", "--checkpoint", str(tiny), "--out", str(tmp_path / "r"),
                 "--controls", str(tmp_path / "nowhere"), "--quiet"]) == 2
    assert "python -m training controls" in capsys.readouterr().err


def test_controls_refuse_an_unknown_head(tiny, tmp_path, capsys):
    assert main(["controls", "--checkpoint", str(tiny), "--out", str(tmp_path), "--heads", "spn", "--quiet"]) == 2
    assert "'spn'" in capsys.readouterr().err
