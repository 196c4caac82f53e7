"""The explanation's chance rate: measured on the validation split with known predictors, written
into the manifest by `python -m training chance`, and the split the analysis reads kept apart."""
from __future__ import annotations

import json

from model.arithmetic import parse_whole_number
from model.checkpoint import Manifest, read_manifest
from training.__main__ import main
from training.analysis import findings as F
from training.analysis.baselines import baselines
from training.analysis.chance import chance_rate
from training.config import load_config
from training.data.loading import load_data, load_test_data
from training.data.synthetic import generate
from training.testing import make_random_checkpoint


def _numeric():
    return [e for e in F.numeric_examples(generate("numeric", 80, seed=10_000, split="heldout"))
            if parse_whole_number(e.answer) is not None]


class _Gold:
    """The multi-span head marks exactly the arguments."""

    def has(self, head):
        return head == F.MULTISPAN

    def __init__(self, examples):
        self.args = {e.question + e.context: e.argument_spans for e in examples}

    def predict(self, questions, contexts, heads):
        return [{F.MULTISPAN: {"spans": [{"text": s.text, "start": s.start, "end": s.end, "field": s.field,
                                               "score": 1.0} for s in self.args[q + c]]}} for q, c in zip(questions, contexts)]


def test_exact_arguments_explain_gold_but_rarely_a_near_miss():
    examples = _numeric()
    rate, per_question = chance_rate(_Gold(examples), examples)
    assert len(per_question) == len(examples) and rate < 0.05
    preds = _Gold(examples).predict([e.question for e in examples], [e.context for e in examples], [F.MULTISPAN])
    assert all(F.explains(parse_whole_number(e.answer), p) for e, p in zip(examples, preds)
               if not (e.operation == "count" and len(e.argument_spans) == 1))


def test_baselines_that_extract_nothing_useful_explain_little():
    examples = _numeric()
    by_name = {b.name: b for b in baselines()}
    # One span (the passage, the question) explains only a count of one: gold 0 or 2, by a near miss.
    for name in ("whole passage", "copy the question"):
        assert chance_rate(by_name[name], examples)[0] < 0.05, name


def test_the_chance_step_writes_the_manifest_and_older_manifests_still_load(tmp_path, capsys):
    path = tmp_path / "tiny"
    make_random_checkpoint(path, seed=0)
    assert read_manifest(path).explanation_chance is None  # a checkpoint from before the field
    assert main(["chance", "--checkpoint", str(path), "--n", "40", "--device", "cpu", "--quiet"]) == 0
    chance = read_manifest(path).explanation_chance
    assert chance is not None and 0.0 <= chance.rate <= 1.0 and chance.questions > 0
    assert chance.heads == ["span", "multispan"] and "validation" in chance.split
    assert "explanation chance rate" in capsys.readouterr().out
    raw = json.loads((path / "manifest.json").read_text())
    raw.pop("explanation_chance")
    Manifest.model_validate(raw)


def test_the_chance_step_names_a_checkpoint_without_span_heads(tmp_path, capsys):
    assert main(["chance", "--checkpoint", str(tmp_path / "nowhere"), "--quiet"]) == 2
    assert "manifest" in capsys.readouterr().err


def test_the_test_split_shares_no_example_with_the_validation_split():
    config = load_config(preset="tiny", overrides={"data.eval_per_setting": 100})
    _, validation = load_data(config.data)
    test = load_test_data(config.data)
    assert set(test) == set(validation)
    seen = {(e.question, e.context) for exs in validation.values() for e in exs}
    drawn = [(e.question, e.context) for exs in test.values() for e in exs]
    assert drawn and not seen & set(drawn)
    assert all(e.split == "heldout" for exs in test.values() for e in exs)
    assert sum(len(v) for v in test.values()) >= 0.9 * sum(len(v) for v in validation.values())


def test_the_analysis_reads_the_test_split(tmp_path):
    from training.analysis.run import held_out_examples

    path = tmp_path / "tiny"
    make_random_checkpoint(path, seed=0)
    config = load_config(preset="tiny", overrides={"data.eval_per_setting": 20})
    config.data.synthetic = {s: 0 for s in ("numeric", "multihop", "qa_summary")}
    _, validation = load_data(config.data)
    read = {(e.question, e.context) for e in held_out_examples(path, 20)}
    assert read and not read & {(e.question, e.context) for exs in validation.values() for e in exs}


def test_training_ends_by_measuring_the_chance_rate(tmp_path):
    out = tmp_path / "tiny"
    assert main(["train", "--preset", "tiny", "--out", str(out), "--set", "optim.steps=2", "--set", "optim.eval_every=2",
                 "--set", "data.eval_per_setting=6", "--quiet"]) == 0
    chance = read_manifest(out).explanation_chance
    assert chance is not None and chance.questions > 0
