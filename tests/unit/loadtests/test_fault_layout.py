"""The fault runs find the heads to run as replicas by kind, whatever the checkpoint calls them."""
from __future__ import annotations

import json

from loadtests.faults import Layout, fault_args
from training.testing import make_random_checkpoint


def test_the_span_head_is_killed_and_the_last_writer_lives_on_the_worker_node(tmp_path):
    make_random_checkpoint(tmp_path / "tiny")
    layout = Layout.of(tmp_path / "tiny")
    assert layout == Layout(["span", "number", "summary"], "span", "summary")
    heads = fault_args(tmp_path / "tiny", "node", layout)["heads"]["overrides"]
    assert set(heads) == {"span", "number", "summary"}
    assert "resources" in heads["summary"] and all(heads[h]["max_replicas_per_node"] == 1 for h in ("span", "number"))


def test_renamed_heads_are_found_by_what_they_answer_with(tmp_path):
    make_random_checkpoint(tmp_path / "tiny")
    manifest = tmp_path / "tiny" / "manifest.json"
    data = json.loads(manifest.read_text())
    for head in data["heads"]:
        head["name"] = {"span": "extract", "summary": "writer"}.get(head["name"], head["name"])
    manifest.write_text(json.dumps(data))
    assert Layout.of(tmp_path / "tiny") == Layout(["extract", "number", "writer"], "extract", "writer")
