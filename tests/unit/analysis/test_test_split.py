"""What the analysis reads: the synthetic test split of the held-out templates, and the examples
of the data config's eval files (real data carrying evidence and argument spans)."""
from __future__ import annotations

import json

from model.example import Example, Span, write_jsonl
from training.analysis import findings as F
from training.analysis.run import held_out_examples
from training.config import load_config
from training.data.loading import load_test_data
from training.testing import make_random_checkpoint

CONTEXT = "Ashby: Ashby is a town in Spain. It was founded in 1204.\nMillbrook: Millbrook is a city in Spain."


def _real(id_: str) -> Example:
    return Example(id_, "multihop", "hotpot_yesno", CONTEXT, "yes", "yes", question="Are Ashby and Millbrook in one country?",
                   evidence_spans=[Span(7, 32, "Ashby is a town in Spain."), Span(68, 97, "Millbrook is a city in Spain.")])


def _files(tmp_path):
    write_jsonl([_real("eval-1")], tmp_path / "eval.jsonl")
    write_jsonl([_real("train-1")], tmp_path / "train.jsonl")
    return [{"format": "jsonl", "path": str(tmp_path / "eval.jsonl"), "split": "eval"},
            {"format": "jsonl", "path": str(tmp_path / "train.jsonl"), "split": "train"}]


def test_the_test_split_holds_the_eval_files_and_not_the_training_ones(tmp_path):
    config = load_config(preset="tiny", overrides={"data.eval_per_setting": 10, "data.files": _files(tmp_path)})
    test = load_test_data(config.data)
    ids = [e.id for exs in test.values() for e in exs]
    assert "eval-1" in ids and "train-1" not in ids
    assert sum(e.split == "heldout" for exs in test.values() for e in exs) >= 9 * len(config.data.synthetic)


def test_the_analysis_reads_a_checkpoints_eval_files_beside_the_synthetic_split(tmp_path):
    path = tmp_path / "tiny"
    make_random_checkpoint(path, seed=0)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["training"]["config"]["data"]["files"] = _files(tmp_path)
    (path / "manifest.json").write_text(json.dumps(manifest))
    examples = held_out_examples(path, 10)
    real = [e for e in examples if e.id == "eval-1"]
    assert len(real) == 1 and real[0] in F.yesno_examples(examples)
    assert {e.setting for e in examples if e.split == "heldout"} == {"numeric", "multihop", "qa_summary"}


def test_real_files_given_at_analysis_time_can_be_analysed_alone(tmp_path):
    from training.config import DataFile

    path = tmp_path / "tiny"
    make_random_checkpoint(path, seed=0)
    write_jsonl([_real("given-1"), _real("given-2")], tmp_path / "given.jsonl")
    given = [DataFile(format="jsonl", path=str(tmp_path / "given.jsonl"))]
    alone = held_out_examples(path, 10, files=given, synthetic=False)
    assert sorted(e.id for e in alone) == ["given-1", "given-2"]
    beside = held_out_examples(path, 10, files=given)
    assert {"given-1", "given-2"} < {e.id for e in beside} and len(beside) > 20


def test_real_examples_can_be_capped_to_a_seeded_sample_per_task(tmp_path):
    from training.config import DataFile

    path = tmp_path / "tiny"
    make_random_checkpoint(path, seed=0)
    write_jsonl([_real(f"given-{i}") for i in range(40)], tmp_path / "given.jsonl")
    given = [DataFile(format="jsonl", path=str(tmp_path / "given.jsonl"))]
    capped = held_out_examples(path, 10, files=given, synthetic=False, real_n=5)
    ids = [e.id for e in capped]
    assert len(ids) == 5 and ids == sorted(ids, key=lambda i: int(i.split("-")[1]))  # file order kept
    assert int(ids[-1].split("-")[1]) > 5  # a sample across the file, not its first five
    assert ids == [e.id for e in held_out_examples(path, 10, files=given, synthetic=False, real_n=5)]
    beside = held_out_examples(path, 10, files=given, real_n=5)
    assert sum(e.id.startswith("given") for e in beside) == 5 and sum(e.split == "heldout" for e in beside) > 20
