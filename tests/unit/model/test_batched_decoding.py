"""The batched span and tag decoding (model/heads/decoding.py) answers exactly what the per-window
decoding it replaced answered, on random logits over several inputs with several windows each.

The reference functions below are the heads' decode as it was before batching, kept here to
compare against: same spans, same order, same scores. The tag decoding was then vectorised over
windows and tokens (NumPy), so the reference keeps its per-token loops too."""
from __future__ import annotations

from typing import Any

import pytest
import torch

from model import BackboneInfo, build_head, build_tiny_backbone
from model.encoding import SEG_SPECIAL, encode
from model.heads.base import HeadBatch
from model.heads.decoding import host_view
from model.heads.labels import word_edges
from model.tokenizer import build_wordpiece_tokenizer, with_split_digits

from tests.unit.model.conftest import TEXTS

QUESTIONS = ["How many points did the Bears score?", "", "Who founded the Lighthouse Choir in 1920?", "Which is older, Dover or Cora?"]
CONTEXTS = [
    "The Bears scored 24 points and the Lions scored 17 points in week 10 of the 1987 season at Lionsgate.",
    "The Lighthouse Choir was founded by Omar Roberts in 1920. It sings in Seville, and Chaz Rossi leads it.",
    "Mary Rossi (Dover) co-op don't x42b 1,700 " * 4,
    "Cora is a town founded in 1802; Dover was founded in 1790 by Normans.",
]


def reference_span_decode(head, output, batch: HeadBatch) -> list[dict[str, Any]]:
    max_len, top_k = int(head.config["max_answer_tokens"]), int(head.config["top_k"])
    start_p = output.start_logits.float().softmax(-1)
    end_p = output.end_logits.float().softmax(-1)
    results = []
    for i in range(batch.num_inputs):
        candidates = []
        for w in batch.windows_of(i):
            seg = batch.segments[w]
            scores = start_p[w][:, None] * end_p[w][None, :]
            t = scores.shape[0]
            idx = torch.arange(t)
            valid = (idx[None, :] >= idx[:, None]) & (idx[None, :] - idx[:, None] < max_len)
            valid &= (seg[:, None] == seg[None, :]) & (seg[:, None] != SEG_SPECIAL)
            starts_word, ends_word = word_edges(batch, w)
            valid &= starts_word[:, None] & ends_word[None, :]
            flat = scores.masked_fill(~valid, -1.0).flatten()
            top = torch.topk(flat, k=min(50 * top_k, flat.numel()))
            for score, pos in zip(top.values.tolist(), top.indices.tolist()):
                if score < 0:
                    break
                s, e = divmod(pos, t)
                candidates.append({**batch.char_span(w, s, e), "score": float(score)})
        candidates.sort(key=lambda c: -c["score"])
        chosen: list[dict[str, Any]] = []
        for c in candidates:
            if all(c["field"] != o["field"] or c["end"] <= o["start"] or c["start"] >= o["end"] for o in chosen):
                chosen.append(c)
            if len(chosen) == top_k:
                break
        if not chosen:
            results.append({"text": "", "start": 0, "end": 0, "field": "context", "score": 0.0, "alternatives": []})
            continue
        results.append({**chosen[0], "alternatives": chosen[1:]})
    return results


def _word_tags(tags: list[int], starts_word: list[bool], segments: list[int]) -> list[int]:
    O, I = 0, 2
    out, head = list(tags), O
    for t, tag in enumerate(tags):
        if starts_word[t]:
            head = tag
        elif t == 0 or segments[t] != segments[t - 1] or segments[t] == SEG_SPECIAL:
            head = O
        if not starts_word[t]:
            out[t] = O if head == O else I
    return out


def _bio_runs(tags: list[int], segments: list[int]) -> list[tuple[int, int]]:
    B, I = 1, 2
    runs, start = [], None
    for t, tag in enumerate(tags):
        inside = segments[t] != SEG_SPECIAL
        if start is not None and (tag != I or not inside or segments[t] != segments[start]):
            runs.append((start, t - 1))
            start = None
        if inside and (tag == B or (tag == I and start is None)):
            start = t
    if start is not None:
        runs.append((start, len(tags) - 1))
    return runs


def reference_tag_decode(head, output, batch: HeadBatch) -> list[dict[str, Any]]:
    probs = output.logits.float().softmax(-1)
    tags = probs.argmax(-1).tolist()
    segs = batch.segments.tolist()
    results: list[dict[str, Any]] = [{"spans": []} for _ in range(batch.num_inputs)]
    seen: list[set] = [set() for _ in range(batch.num_inputs)]
    for w, ex_i in enumerate(batch.example_index.tolist()):
        starts_word, ends_word = (edges.tolist() for edges in word_edges(batch, w))
        for s, e in _bio_runs(_word_tags(tags[w], starts_word, segs[w]), segs[w]):
            while e >= s and not ends_word[e]:
                e -= 1
            if e < s:
                continue
            span = batch.char_span(w, s, e)
            key = (span["field"], span["start"], span["end"])
            if key in seen[ex_i]:
                continue
            score = float(probs[w, s:e + 1].max(-1).values.mean())
            if score >= float(head.config["min_score"]):
                seen[ex_i].add(key)
                results[ex_i]["spans"].append({**span, "score": score})
    for r in results:
        r["spans"].sort(key=lambda s: (s["field"] != "question", s["start"]))
    return results


@pytest.fixture(scope="module")
def setup():
    tok = with_split_digits(build_wordpiece_tokenizer(TEXTS, vocab_size=300))
    backbone = build_tiny_backbone(len(tok), max_position_embeddings=64, seed=0).eval()
    return tok, BackboneInfo.from_model(backbone, tok), backbone


def _batch(tok, backbone) -> HeadBatch:
    enc = encode(tok, QUESTIONS, CONTEXTS, max_length=48, stride=12, max_question_tokens=12)
    assert len(enc.example_index) > len(CONTEXTS)  # some inputs have several windows
    with torch.no_grad():
        return HeadBatch.from_encoding(enc, backbone(**enc.model_inputs()).last_hidden_state)


def _without_score(spans: list[dict]) -> list[dict]:
    return [{k: v for k, v in s.items() if k != "score"} for s in spans]


@pytest.mark.parametrize("seed", range(6))
def test_batched_span_decoding_gives_the_spans_of_the_per_window_one(setup, seed):
    tok, info, backbone = setup
    torch.manual_seed(seed)
    head = build_head("span", "span", info, {"top_k": 1 + seed % 4, "max_answer_tokens": 3 + 4 * seed}).eval()
    batch = _batch(tok, backbone)
    with torch.no_grad():
        output = head(batch)
        # random logits, sharper or flatter than the tiny head's, so the ranking differs per seed
        output.start_logits = output.start_logits + torch.randn_like(output.start_logits) * seed
        output.end_logits = output.end_logits + torch.randn_like(output.end_logits) * seed
        want = reference_span_decode(head, output, _batch(tok, backbone))
        assert head.decode(output, batch) == want
    assert all(r["text"] for r in want) and (head.config["top_k"] == 1 or any(r["alternatives"] for r in want))


@pytest.mark.parametrize("seed", range(6))
def test_batched_tag_decoding_gives_the_spans_of_the_per_window_one(setup, seed):
    tok, info, backbone = setup
    torch.manual_seed(seed)
    head = build_head("multispan", "tagging", info, {"min_score": 0.3 if seed % 2 else 0.0}).eval()
    batch = _batch(tok, backbone)
    with torch.no_grad():
        output = head(batch)
        output.logits = torch.randn_like(output.logits) * (1 + seed)
        got, want = head.decode(output, batch), reference_tag_decode(head, output, _batch(tok, backbone))
    assert sum(len(r["spans"]) for r in want) > 0
    for g, w in zip(got, want):
        assert _without_score(g["spans"]) == _without_score(w["spans"])
        # the mean is taken in float64 here and in float32 by torch before: equal to float32 precision
        assert [s["score"] for s in g["spans"]] == pytest.approx([s["score"] for s in w["spans"]], rel=1e-6)


def test_the_heads_of_one_batch_share_one_host_copy(setup):
    tok, info, backbone = setup
    batch = _batch(tok, backbone)
    view = host_view(batch)
    assert host_view(batch) is view
    for w in range(len(view.example_index)):
        starts, ends = word_edges(batch, w)
        assert view.starts_word[w].tolist() == starts.tolist() and view.ends_word[w].tolist() == ends.tolist()
