"""Spans a person reads start and end on word boundaries: whatever the weights, the span and the
tagging heads never return a fragment of a word ("z" of "Chaz", "Mary Ross" of "Mary Rossi"), and
the labels they train on cover whole words too."""
from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model import BackboneInfo, build_head, build_tiny_backbone
from model.encoding import encode
from model.example import Span
from model.heads.base import HeadBatch
from model.heads.labels import token_span
from model.tokenizer import build_wordpiece_tokenizer, with_split_digits

from tests.unit.model.conftest import TEXTS

# Words the tiny vocabulary has never seen come out as several sub-tokens: the hard case.
WORDS = st.one_of(
    st.sampled_from(["Chaz", "Normans", "Mary", "Rossi", "Bears", "scored", "1987", "24", "points", "Lionsgate",
                     "x42b", "don't", "co-op", "Cora", "(Dover)", "ra", "1,700"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzQZ0123456789", min_size=1, max_size=12),
)
TEXT = st.lists(WORDS, min_size=1, max_size=40).map(" ".join)
SETTINGS = settings(max_examples=40, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _inside_word(text: str, cut: int) -> bool:
    return 0 < cut < len(text) and text[cut - 1].isalnum() and text[cut].isalnum()


@pytest.fixture(scope="module")
def setup():
    tok = with_split_digits(build_wordpiece_tokenizer(TEXTS, vocab_size=300))
    torch.manual_seed(0)
    backbone = build_tiny_backbone(len(tok), max_position_embeddings=64, seed=0).eval()
    info = BackboneInfo.from_model(backbone, tok)
    span = build_head("span", "span", info, {"top_k": 5}).eval()
    tagging = build_head("multispan", "tagging", info).eval()
    with torch.no_grad():  # tag most tokens B or I, so decoding has many runs to cut
        tagging.classifier.bias.copy_(torch.tensor([-1.0, 1.0, 1.0]))
    return tok, backbone, span, tagging


def _batch(tok, backbone, question, context):
    enc = encode(tok, [question], [context], max_length=48, stride=12, max_question_tokens=12)
    with torch.no_grad():
        return HeadBatch.from_encoding(enc, backbone(**enc.model_inputs()).last_hidden_state), enc


@given(question=TEXT, context=TEXT)
@SETTINGS
def test_decoded_spans_never_start_or_end_inside_a_word(setup, question, context):
    tok, backbone, span_head, tagging_head = setup
    batch, enc = _batch(tok, backbone, question, context)
    fields = {"question": enc.questions[0], "context": context}
    [span_out] = span_head.decode(span_head(batch), batch)
    [tag_out] = tagging_head.decode(tagging_head(batch), batch)
    decoded = [s for s in (span_out, *span_out["alternatives"]) if s["text"]] + tag_out["spans"]
    assert decoded, "random weights still decode some span"
    for s in decoded:
        text = fields[s["field"]]
        assert not _inside_word(text, s["start"]) and not _inside_word(text, s["end"]), (text, s)


@given(context=TEXT, data=st.data())
@SETTINGS
def test_labels_cover_whole_words(setup, context, data):
    tok, backbone, _, _ = setup
    words = [(i, i + len(w)) for i, w in _word_starts(context)]
    start, end = words[data.draw(st.integers(0, len(words) - 1))]
    cut = data.draw(st.integers(start, end - 1))  # a gold span that starts inside a word
    batch, _ = _batch(tok, backbone, "Who?", context)
    for w in range(batch.hidden.shape[0]):
        found = token_span(batch, w, Span(cut, end, context[cut:end]))
        if found is not None:
            s, e = found
            assert int(batch.offsets[w, s, 0]) == start or not _inside_word(context, int(batch.offsets[w, s, 0]))
            assert not _inside_word(context, int(batch.offsets[w, e, 1]))


def _word_starts(text: str) -> list[tuple[int, str]]:
    out, i = [], 0
    for word in text.split(" "):
        out.append((i, word))
        i += len(word) + 1
    return out
