"""The analysis finds the heads it reads by what they do, whatever a checkpoint names them."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from training.analysis.roles import MULTISPAN, SPAN, SUMMARY, analysed_heads, role_of
from training.analysis.variants import multi_task
from training.evaluate import predict_texts
from training.testing import make_random_checkpoint


@dataclass
class Head:
    name: str
    kind: str
    tasks: list[str] = field(default_factory=list)


def test_heads_are_found_by_kind_and_task_not_by_name():
    heads = [Head("answer_type", "classification", ["drop_number", "drop_span"]),
             Head("digits", "generative", ["drop_number"]),
             Head("writer", "generative", ["summarize"]),
             Head("tags", "tagging", ["drop_spans"]),
             Head("extract", "span", ["drop_span", "squad"])]
    assert analysed_heads(heads) == {SPAN: "extract", MULTISPAN: "tags", SUMMARY: "writer"}
    # a decoder that writes numbers is a target, not the summariser; an unknown kind plays no role
    assert role_of(heads[1]) is None and role_of(Head("x", "no-such-kind")) is None


def test_a_checkpoint_without_a_role_lacks_only_that_role():
    assert analysed_heads([Head("extract", "span", ["hotpot_span"]), Head("yesno", "classification")]) == {SPAN: "extract"}


def test_a_variant_answers_a_role_as_its_head_answers_by_name(tmp_path):
    path = tmp_path / "tiny"
    make_random_checkpoint(path, seed=0)
    multi = multi_task(path, torch.device("cpu"))
    name = multi.roles[SPAN]
    questions, contexts = ["How many?"], ["There were 3 cats and 4 dogs."]
    by_role = multi.predict(questions, contexts, [SPAN])[0]
    loaded = multi.models[name]
    by_name = predict_texts(loaded.model, loaded.tokenizer, questions, contexts, [name], loaded.encoding)[0]
    assert by_role == {SPAN: by_name[name]}
    assert multi.key_of(name) == SPAN and SPAN in multi.keys()
