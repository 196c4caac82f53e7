"""Hypothesis on the tokenisation and span-offset path (model/encoding.py encode(), and
the span / tagging heads' decode), with hostile text: control, zero-width, right-to-left, combining
marks, emoji, characters the normaliser expands (İ, ß, ligatures), whitespace runs.

Properties, for every generated (question, context):
- every token's offsets lie inside the field it comes from, start <= end;
- the windows of an input cover its context: their context tokens, in order, are contiguous runs
  of the context's own tokens that start at its first token, end at its last, and leave no gap;
- a question is cut only when it has more than max_question_tokens tokens, and then to a prefix;
- every span a span or tagging head decodes has text == field[start:end].
Windows are small here (max_length 32) so that multi-window inputs are the common case. Seeds are
fixed (derandomize); the counts are printed at the end of the run.
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from model import BackboneInfo, build_head, build_tiny_backbone
from model.backbone import minilm_path
from model.encoding import SEG_CONTEXT, SEG_QUESTION, encode
from model.heads.base import HeadBatch
from tests.hostile import record

MAX_LENGTH, STRIDE, MAX_QUESTION = 32, 8, 8
HOSTILE = [
    "\u200b", "\u200d", "\u200e", "\u200f", "\u202e", "\u2066", "\ufeff", "\x00", "\x07", "\x1b[31m", "\t", "\n", "\r\n",
    "\u00a0", "\u3000", "e\u0301", "\u0301", "İ", "ß", "ﬁ", "Ⅻ", "👩‍👩‍👧", "🇫🇷", "\U0001F600", "שלום", "مرحبا", "日本語",
    "Stallions", "24", "to", "20", ".", ",", "?", "'s", "  ",
]
# Text with no lone surrogates: the API refuses those before they reach encode() (schemas.Text).
TEXT = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(min_size=1, max_size=6)), max_size=60).map(" ".join)
SETTINGS = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module", params=["tiny", "minilm"])
def tokenizer(request, tokenizer):  # noqa: F811 - wraps the session tokenizer of conftest.py
    if request.param == "tiny":
        return tokenizer
    try:
        return AutoTokenizer.from_pretrained(str(minilm_path()))
    except FileNotFoundError as err:
        pytest.skip(str(err))


def check_encoding(tok, questions: list[str], contexts: list[str]) -> None:
    enc = encode(tok, questions, contexts, max_length=MAX_LENGTH, stride=STRIDE, max_question_tokens=MAX_QUESTION)
    assert sum(enc.windows_per_input) == enc.input_ids.shape[0]
    full_q = tok(questions, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    full_c = tok(contexts, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    for i, (question, context) in enumerate(zip(questions, contexts)):
        # A cut question is a prefix of the original, so offsets into it are offsets into the original.
        assert enc.question_truncated[i] == (len(full_q[i]) > MAX_QUESTION)
        assert question.startswith(enc.questions[i])
        windows = (enc.example_index == i).nonzero(as_tuple=True)[0].tolist()
        assert windows, "every input has at least one window"
        expected = [tuple(o) for o in full_c[i]]
        covered: list[tuple[int, int]] = []
        for w in windows:
            seg, offs = enc.segments[w].tolist(), enc.offsets[w].tolist()
            ctx = [tuple(o) for s, o in zip(seg, offs) if s == SEG_CONTEXT]
            for s, (start, end) in zip(seg, offs):
                if s in (SEG_QUESTION, SEG_CONTEXT):
                    field = enc.questions[i] if s == SEG_QUESTION else context
                    assert 0 <= start <= end <= len(field), (start, end, len(field))
            if ctx:
                at = expected.index(ctx[0]) if ctx[0] in expected else -1
                assert at >= 0 and expected[at:at + len(ctx)] == ctx, "a window's context tokens are a run of the context's"
                assert at <= len(covered), "no gap between consecutive windows"
                covered = expected[:at] + ctx if at + len(ctx) >= len(covered) else covered
        assert covered == expected, "the windows together hold every context token, in order"


@given(question=TEXT, context=TEXT)
@SETTINGS
def test_offsets_stay_in_their_field_and_windows_cover_the_context(tokenizer, question, context):
    check_encoding(tokenizer, [question], [context])
    record("hypothesis encode() offsets and windows", "ok")


@given(pairs=st.lists(st.tuples(TEXT, TEXT), min_size=2, max_size=4))
@settings(max_examples=15, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_a_batch_of_inputs_keeps_each_inputs_windows_apart(tokenizer, pairs):
    check_encoding(tokenizer, [q for q, _ in pairs], [c for _, c in pairs])
    record("hypothesis encode() batches", "ok")


@given(pairs=st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=4))
@settings(max_examples=20, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_the_windows_are_the_tokenizers_own(tokenizer, pairs):
    """encode() calls the Rust backend itself (for speed); what it returns is what the tokenizer's
    own batch call returns with the same settings, token for token."""
    questions = [q for q, _ in pairs]
    enc = encode(tokenizer, questions, [c for _, c in pairs], max_length=MAX_LENGTH, stride=STRIDE, max_question_tokens=MAX_QUESTION)
    own = tokenizer(enc.questions, [c for _, c in pairs], truncation="only_second", max_length=MAX_LENGTH, stride=STRIDE,
                    return_overflowing_tokens=True, return_offsets_mapping=True, padding="longest", pad_to_multiple_of=8,
                    return_tensors="pt")
    assert torch.equal(enc.input_ids, own["input_ids"])
    assert torch.equal(enc.attention_mask, own["attention_mask"])
    assert torch.equal(enc.offsets, own["offset_mapping"])
    assert torch.equal(enc.example_index, own["overflow_to_sample_mapping"])
    if "token_type_ids" in own:
        assert torch.equal(enc.token_type_ids, own["token_type_ids"])
    for w in range(enc.input_ids.shape[0]):
        expected = [{0: SEG_QUESTION, 1: SEG_CONTEXT}.get(s, 0) for s in own.sequence_ids(w)]
        assert enc.segments[w].tolist() == expected
    record("hypothesis encode() equals the tokenizer's call", "ok")


@pytest.fixture(scope="module")
def span_heads(tokenizer):
    torch.manual_seed(0)
    backbone = build_tiny_backbone(len(tokenizer), max_position_embeddings=64, seed=0).eval()
    info = BackboneInfo.from_model(backbone, tokenizer)
    return backbone, [build_head("span", "span", info, {"top_k": 3}).eval(), build_head("multispan", "tagging", info).eval()]


@given(question=TEXT, context=TEXT)
@settings(max_examples=20, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_decoded_spans_are_exact_slices_of_their_field(tokenizer, span_heads, question, context):
    backbone, heads = span_heads
    enc = encode(tokenizer, [question], [context], max_length=MAX_LENGTH, stride=STRIDE, max_question_tokens=MAX_QUESTION)
    with torch.no_grad():
        hidden = backbone(**enc.model_inputs()).last_hidden_state
    batch = HeadBatch.from_encoding(enc, hidden)
    fields = {"question": enc.questions[0], "context": context}
    for head in heads:
        [out] = head.decode(head(batch), batch)
        spans = [out, *out["alternatives"]] if head.kind == "span" else out["spans"]
        for span in spans:
            if span["text"] == "" and span["start"] == span["end"] == 0:
                continue  # the span head's "nothing found" answer
            field = fields[span["field"]]
            assert 0 <= span["start"] <= span["end"] <= len(field)
            assert field[span["start"]:span["end"]] == span["text"]
    record("hypothesis span/tagging decode offsets", "ok")
