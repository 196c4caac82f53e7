"""A WordPiece tokenizer trained on the training texts, for randomly initialised backbones.

A pre-trained backbone brings its own tokenizer; a tiny random one needs a vocabulary that fits
the data, and training one with `tokenizers` takes a second and needs no download.
"""
from __future__ import annotations

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
