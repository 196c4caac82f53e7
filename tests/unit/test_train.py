"""The trainer end to end on the tiny preset: it writes a checkpoint that `evaluate` reads, its
loss falls, it refuses to overwrite without --force, and --resume continues where it stopped."""
from __future__ import annotations

import json

import pytest

from training.__main__ import main
from model.checkpoint import load_model, read_manifest
from training.config import load_config
from training.train import train

SMALL = {"data.synthetic": {"numeric": 120, "multihop": 80, "qa_summary": 80}, "data.eval_per_setting": 12,
         "optim.steps": 20, "optim.eval_every": 10}


def _losses(path):
    return [r["loss"] for r in map(json.loads, path.read_text().splitlines()) if r["kind"] == "train"]


@pytest.mark.slow
def test_tiny_preset_trains_its_loss_falls_and_evaluate_reads_it(tmp_path, capsys):
    out = tmp_path / "tiny"
    assert main(["train", "--preset", "tiny", "--out", str(out), "--quiet"]) == 0
    manifest = read_manifest(out)
    assert manifest.metrics["held_out"]["score"] >= 0.0 and manifest.training["steps"] > 0
    losses = _losses(out / "metrics.jsonl")
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses
    assert (out / "curves.png").stat().st_size > 10_000
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(out), "--json", "--n", "5"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["metrics"]) >= {"drop_number", "hotpot_yesno", "summarize", "squad", "score"}


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """A checkpoint trained 10 steps, then resumed to 20: the resume test reads it, and the
    overwrite test uses it as the checkpoint that must not be overwritten (one training, not two)."""
    out = tmp_path_factory.mktemp("train") / "ckpt"
    train(load_config(preset="tiny", overrides={**SMALL, "optim.steps": 10}), out, progress=False)
    manifest = train(load_config(preset="tiny", overrides=SMALL), out, resume=True, progress=False)
    return out, manifest


def test_existing_checkpoint_is_not_overwritten_without_force(resumed, capsys):
    out, _ = resumed
    before = {f: f.read_bytes() for f in (out / "manifest.json", out / "metrics.jsonl")}
    assert main(["train", "--preset", "tiny", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "already holds a checkpoint" in err and "--force" in err
    assert {f: f.read_bytes() for f in before} == before


def test_resume_continues_from_the_saved_step(resumed):
    out, manifest = resumed
    steps = [r["step"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "train"]
    assert steps == [10, 20]  # the first ten steps are not run again
    assert json.loads((out / "train_state" / "state.json").read_text())["step"] == 20
    assert manifest.metrics["step"] in (10, 20)  # the kept checkpoint is the better of the two evaluations
    model, _, _ = load_model(out)
    assert set(model.heads) == {"span", "multispan", "answer_type", "yesno", "number", "summary"}


def test_a_run_that_evaluates_only_at_its_end_evaluates_once(tmp_path, monkeypatch):
    import training.train as train_module

    calls = []
    real = train_module.evaluate_model
    monkeypatch.setattr(train_module, "evaluate_model", lambda *a, **kw: calls.append(kw.get("limit")) or real(*a, **kw))
    out = tmp_path / "once"
    manifest = train(load_config(preset="tiny", overrides={**SMALL, "optim.steps": 6, "optim.eval_every": 6}), out,
                     progress=False)
    assert calls == [None]  # the whole held-out set, once: no second, partial pass at the last step
    assert manifest.metrics["step"] == 6 and manifest.metrics["held_out"]["score"] >= 0.0
    assert read_manifest(out).metrics == manifest.metrics
    evals = [r for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [6] and evals[0]["metrics"] == manifest.metrics["held_out"]
    assert json.loads((out / "train_state" / "state.json").read_text())["step"] == 6


def test_a_loss_that_turns_nan_stops_training_and_names_the_head(tmp_path, monkeypatch, capsys):
    from model.heads.classification import ClassificationHead

    monkeypatch.setattr(ClassificationHead, "loss", lambda self, output, labels: output.logits.sum() * float("nan"))
    out = tmp_path / "nan"
    assert main(["train", "--preset", "tiny", "--out", str(out), "--quiet",
                 *[f"--set={k}={json.dumps(v)}" for k, v in {**SMALL, "optim.steps": 10}.items()]]) == 2
    err = capsys.readouterr().err
    assert "diverged at step 1:" in err and "['answer_type', 'yesno']" in err and "optim.lr" in err


def test_bad_config_fails_before_training(tmp_path, capsys):
    assert main(["train", "--preset", "tiny", "--out", str(tmp_path / "x"), "--set", "optim.stepz=3"]) == 2
    assert "optim.stepz: unknown field" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_dataset_files_feed_training_and_a_bad_line_is_named(tmp_path):
    from training.config import DataConfig
    from training.data.loading import load_data
    from model.example import write_jsonl
    from training.data.synthetic import generate

    good = tmp_path / "mine.jsonl"
    write_jsonl(generate("qa_summary", 6, seed=1), good)
    train_sets, eval_sets = load_data(DataConfig(files=[{"format": "jsonl", "path": str(good)}]))
    assert sum(map(len, train_sets.values())) == 6 and not eval_sets
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good.read_text().splitlines()[0] + "\n{not json\n")
    with pytest.raises(ValueError, match=rf"{bad}:2: not a valid example"):
        load_data(DataConfig(files=[{"format": "jsonl", "path": str(bad)}]))
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_data(DataConfig(files=[{"format": "squad", "path": str(tmp_path / "missing.json")}]))
