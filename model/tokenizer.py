"""A WordPiece tokenizer trained on the training texts, for randomly initialised backbones.

A pre-trained backbone brings its own tokenizer; a tiny random one needs a vocabulary that fits
the data, and training one with `tokenizers` takes a second and needs no download.
"""
from __future__ import annotations

import re
import string
from typing import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


# Every ASCII letter, digit and punctuation mark as a word and inside a word, so both its plain and
# its ##-continuation form are in the vocabulary whatever the training texts hold.
_ALPHABET = string.ascii_lowercase + string.digits + string.punctuation


def _with_alphabet(texts: Iterable[str]) -> Iterator[str]:
    yield " ".join(_ALPHABET)
    yield " ".join("a" + c + "a" for c in string.ascii_lowercase + string.digits)
    yield from texts


def build_wordpiece_tokenizer(texts: Iterable[str], vocab_size: int = 2000) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    # Like BERT's: the trainer keeps every character (and its ##-continuation) in the vocabulary,
    # so a number the data never showed is still spelled out, never [UNK].
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS)
    tok.train_from_iterator(_with_alphabet(texts), trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    # The generic fast class saves and reloads tokenizer.json exactly as it is; BertTokenizer
    # would rebuild its normaliser and pre-tokenizer from its own defaults on load.
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


# ---------------------------------------------------------------------------------------------
# Digit-level pre-tokenisation (GenBERT): every digit its own token, so "2229" is 2 2 2 9 and a
# number is spelled from ten symbols instead of being one of thousands of arbitrary WordPieces.

DIGIT_MODES = ("split", "wordpiece")
_PROBE = "2229"


def with_split_digits(tokenizer: PreTrainedTokenizerFast) -> PreTrainedTokenizerFast:
    """The same vocabulary with each digit pre-tokenised on its own; character offsets stay exact
    (a pre-tokenizer only cuts, it never rewrites text).

    The result is the generic fast class on purpose: it saves and reloads tokenizer.json as it is,
    where a reloaded BertTokenizer rebuilds its pre-tokenizer from defaults and loses the split."""
    if splits_digits(tokenizer):
        return tokenizer
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    parts = [backend.pre_tokenizer] if backend.pre_tokenizer is not None else []
    backend.pre_tokenizer = pre_tokenizers.Sequence([*parts, pre_tokenizers.Digits(individual_digits=True)])
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token=tokenizer.unk_token,
        pad_token=tokenizer.pad_token,
        cls_token=tokenizer.cls_token,
        sep_token=tokenizer.sep_token,
        mask_token=tokenizer.mask_token,
        model_input_names=list(tokenizer.model_input_names),
    )


def splits_digits(tokenizer) -> bool:
    """Whether this tokenizer cuts a number into single digits (checked on a real number, not on
    its configuration, which is what a reload can silently change)."""
    return tokenizer.tokenize(_PROBE) == list(_PROBE)


# The space the WordPiece decoder puts between two split digits: "1 9 7 4" -> "1974". (Two
# numbers a generated text puts side by side with only a space between them would merge; the
# targets here never do that.)
_DIGIT_GAP = re.compile(r"(?<=\d) (?=\d)")


def decode_text(tokenizer, ids: list[int]) -> str:
    """Token ids -> text, with split digits joined back into numbers."""
    text = tokenizer.decode(ids, skip_special_tokens=True).strip()
    return _DIGIT_GAP.sub("", text) if splits_digits(tokenizer) else text
