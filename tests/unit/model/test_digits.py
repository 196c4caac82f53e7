"""Digit-level pre-tokenisation (GenBERT): every digit is its own token, character offsets stay
exact, the split survives saving and reloading the tokenizer, and a checkpoint whose tokenizer lost
it is refused with a message naming the checkpoint."""
from __future__ import annotations

import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from model.backbone import minilm_path
from model.checkpoint import CheckpointError, load_tokenizer, sha256_file
from model.tokenizer import build_wordpiece_tokenizer, decode_text, splits_digits, with_split_digits
from training.testing import make_random_checkpoint

from tests.unit.model.conftest import TEXTS

WORDS = st.sampled_from(["Bears", "scored", "points", "in", "the", "final", "Dover", "x42b", "1,700", "7.5", "-3",
                         "(24)", "'s", "1987.", "é", "İ"])
NUMBERS = st.integers(min_value=0, max_value=10**7).map(str)
TEXT = st.lists(st.one_of(WORDS, NUMBERS), min_size=1, max_size=25).map(" ".join)


@pytest.fixture(scope="module", params=["tiny", "minilm"])
def split_tokenizer(request):
    if request.param == "tiny":
        return with_split_digits(build_wordpiece_tokenizer(TEXTS, vocab_size=300))
    try:
        return with_split_digits(AutoTokenizer.from_pretrained(str(minilm_path())))
    except FileNotFoundError as err:
        pytest.skip(str(err))


@given(text=TEXT)
@settings(max_examples=60, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_digit_is_one_token_at_its_exact_offset(split_tokenizer, text):
    enc = split_tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    tokens = split_tokenizer.convert_ids_to_tokens(enc["input_ids"])
    for token, (start, end) in zip(tokens, enc["offset_mapping"]):
        piece = text[start:end]
        if any(ch.isdigit() for ch in piece):
            assert len(piece) == 1 and token.lstrip("#") == piece, (text, token, piece)
    # every digit of the text is covered by exactly one token
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    starts = [s for s, e in enc["offset_mapping"] if e - s == 1 and text[s].isdigit()]
    assert starts == digits


def test_numbers_decode_back_to_numbers(split_tokenizer):
    ids = split_tokenizer("The Bears won 2229 to 17 in 1987", add_special_tokens=False)["input_ids"]
    assert decode_text(split_tokenizer, ids) == "the bears won 2229 to 17 in 1987"


def test_the_split_survives_save_and_load(split_tokenizer, tmp_path):
    split_tokenizer.save_pretrained(tmp_path / "tok")
    reloaded = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    assert splits_digits(reloaded)
    text = "In 2229 the Lions scored 17."
    assert reloaded(text, return_offsets_mapping=True)["offset_mapping"] == \
        split_tokenizer(text, return_offsets_mapping=True)["offset_mapping"]


def test_a_reloaded_bert_tokenizer_loses_the_split_which_is_why_the_check_exists(tmp_path):
    # The failure the checkpoint check guards against: BertTokenizer rebuilds its pre-tokenizer.
    try:
        bert = AutoTokenizer.from_pretrained(str(minilm_path()))
    except FileNotFoundError as err:
        pytest.skip(str(err))
    bert.backend_tokenizer.pre_tokenizer = with_split_digits(bert).backend_tokenizer.pre_tokenizer
    assert splits_digits(bert)
    bert.save_pretrained(tmp_path / "bert")
    assert not splits_digits(AutoTokenizer.from_pretrained(str(tmp_path / "bert")))


def test_a_checkpoint_whose_tokenizer_lost_the_split_is_refused(tmp_path):
    ckpt = tmp_path / "ckpt"
    make_random_checkpoint(ckpt)
    manifest = json.loads((ckpt / "manifest.json").read_text())
    assert manifest["tokenizer"]["digits"] == "split" and splits_digits(load_tokenizer(ckpt))
    # Replace the tokenizer with one that does not split digits, hashes updated as a careless
    # re-export would leave them: only the digit check can catch it.
    shutil.rmtree(ckpt / "tokenizer")
    build_wordpiece_tokenizer(TEXTS, vocab_size=300).save_pretrained(ckpt / "tokenizer")
    manifest["tokenizer"]["files"] = {f"tokenizer/{p.name}": sha256_file(p) for p in (ckpt / "tokenizer").iterdir()}
    (ckpt / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=r"checkpoint 'tiny-random' was trained with digits split") as err:
        load_tokenizer(ckpt)
    assert str(ckpt / "tokenizer") in str(err.value)
