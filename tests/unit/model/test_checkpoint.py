"""The checkpoint contract: a round trip gives identical outputs; a corrupted or foreign head is
refused with a message that names the file; nothing but safetensors is read."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from model.checkpoint import CheckpointError, load_head, load_model, read_manifest, save_checkpoint
from model import encode

ENC = {"max_length": 96, "stride": 32, "max_question_tokens": 24}
TASKS = {"drop_number": "number", "drop_span": "span", "drop_spans": "multispan"}
HEAD_TASKS = {"span": ["drop_span"], "multispan": ["drop_spans"], "answer_type": ["drop_number"], "number": ["drop_number"]}


def _save(model, tokenizer, path):
    return save_checkpoint(path, model, tokenizer, name="unit", head_tasks=HEAD_TASKS, tasks=TASKS, encoding=ENC,
                           backbone_source="tiny", training={"steps": 0}, metrics={})


def _perturb(model, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)


def test_round_trip_gives_identical_outputs(tiny_model, tokenizer, examples, tmp_path):
    _perturb(tiny_model, 1)
    manifest = _save(tiny_model, tokenizer, tmp_path / "ckpt")
    assert {h.name for h in manifest.heads} == set(tiny_model.heads)
    assert read_manifest(tmp_path / "ckpt").tasks == TASKS
    loaded, tok2, _ = load_model(tmp_path / "ckpt")
    qs, cs = [e.question for e in examples], [e.context for e in examples]
    enc1, enc2 = encode(tokenizer, qs, cs, **ENC), encode(tok2, qs, cs, **ENC)
    assert torch.equal(enc1.input_ids, enc2.input_ids)
    with torch.no_grad():
        b1, b2 = tiny_model.encode(enc1), loaded.encode(enc2)
        assert torch.equal(b1.hidden, b2.hidden)
        for name in tiny_model.heads:
            o1, o2 = tiny_model.heads[name](b1), loaded.heads[name](b2)
            for field in ("start_logits", "end_logits", "logits", "sequences", "token_logprobs"):
                if getattr(o1, field, None) is not None:
                    assert torch.equal(getattr(o1, field), getattr(o2, field)), (name, field)
    # generative heads are tied to the backbone's embeddings again after loading
    assert loaded.heads["number"].word_embeddings is loaded.backbone.get_input_embeddings()


def test_a_head_loads_alone_from_its_own_file(tiny_model, tokenizer, tmp_path):
    _save(tiny_model, tokenizer, tmp_path / "ckpt")
    shutil.rmtree(tmp_path / "ckpt" / "backbone")  # a head replica never needs the backbone
    head = load_head(tmp_path / "ckpt", "number")
    assert torch.equal(head.word_embeddings.weight, tiny_model.backbone.get_input_embeddings().weight)


def test_corrupted_head_file_is_refused_naming_the_file(tiny_model, tokenizer, tmp_path):
    _save(tiny_model, tokenizer, tmp_path / "ckpt")
    path = tmp_path / "ckpt" / "heads" / "span.safetensors"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"span\.safetensors: sha256 .* does not match"):
        load_head(tmp_path / "ckpt", "span")
    with pytest.raises(CheckpointError, match="span.safetensors"):
        load_model(tmp_path / "ckpt")


def test_truncated_backbone_is_refused(tiny_model, tokenizer, tmp_path):
    _save(tiny_model, tokenizer, tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "backbone" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="model.safetensors: sha256"):
        load_model(tmp_path / "ckpt")


def test_head_from_another_backbone_is_refused(tiny_model, tokenizer, tmp_path):
    _save(tiny_model, tokenizer, tmp_path / "a")
    _perturb(tiny_model, 2)  # same architecture, other weights: another backbone
    manifest_b = _save(tiny_model, tokenizer, tmp_path / "b")
    # Put a's span head into b, and fix b's manifest hash so only the fingerprint can catch it.
    shutil.copy(tmp_path / "a" / "heads" / "span.safetensors", tmp_path / "b" / "heads" / "span.safetensors")
    raw = json.loads((tmp_path / "b" / "manifest.json").read_text())
    from model.checkpoint import sha256_file
    for h in raw["heads"]:
        if h["name"] == "span":
            h["sha256"] = sha256_file(tmp_path / "b" / "heads" / "span.safetensors")
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(CheckpointError, match="trained with another backbone"):
        load_head(tmp_path / "b", "span")
    assert manifest_b.backbone.fingerprint != read_manifest(tmp_path / "a").backbone.fingerprint


def test_unsupported_format_version_is_refused(tiny_model, tokenizer, tmp_path):
    _save(tiny_model, tokenizer, tmp_path / "ckpt")
    raw = json.loads((tmp_path / "ckpt" / "manifest.json").read_text())
    raw["format_version"] = 99
    (tmp_path / "ckpt" / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(CheckpointError, match="format_version 99 is not supported"):
        read_manifest(tmp_path / "ckpt")


def test_no_pickle_files_are_written(tiny_model, tokenizer, tmp_path):
    _save(tiny_model, tokenizer, tmp_path / "ckpt")
    suffixes = {p.suffix for p in (tmp_path / "ckpt").rglob("*") if p.is_file()}
    assert not suffixes & {".bin", ".pt", ".pth", ".pkl", ".ckpt"}, suffixes
