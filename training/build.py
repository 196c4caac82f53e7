"""Config -> an untrained multi-task model and its tokenizer."""
from __future__ import annotations

from typing import Iterable

from transformers import AutoTokenizer, PreTrainedTokenizerBase

from training.config import TrainConfig
from model import HEAD_KINDS, BackboneInfo, MultiTaskModel, build_head, build_tiny_backbone, load_pretrained_backbone
from model.backbone import minilm_path
from model.tokenizer import build_wordpiece_tokenizer, with_split_digits


def build_model(config: TrainConfig, tokenizer_texts: Iterable[str] = ()) -> tuple[MultiTaskModel, PreTrainedTokenizerBase, str]:
    """The model the config describes, its tokenizer, and a description of the backbone's source.

    A tiny backbone gets a WordPiece vocabulary trained on `tokenizer_texts`."""
    bb = config.backbone
    if bb.source == "tiny":
        tokenizer = build_wordpiece_tokenizer(tokenizer_texts, vocab_size=bb.tiny.vocab_size)
        backbone = build_tiny_backbone(
            vocab_size=len(tokenizer),
            hidden_size=bb.tiny.hidden_size,
            num_hidden_layers=bb.tiny.num_hidden_layers,
            num_attention_heads=bb.tiny.num_attention_heads,
            intermediate_size=bb.tiny.intermediate_size,
            max_position_embeddings=max(512, bb.max_length),
            seed=config.optim.seed,
        )
        source = f"tiny random BERT (hidden {bb.tiny.hidden_size}, {bb.tiny.num_hidden_layers} layers)"
    else:
        path = minilm_path() if bb.source == "minilm" else bb.path
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        backbone = load_pretrained_backbone(path)
        source = "sentence-transformers/all-MiniLM-L6-v2" if bb.source == "minilm" else str(path)
    if bb.digits == "split":
        tokenizer = with_split_digits(tokenizer)
    if bb.max_length > backbone.config.max_position_embeddings:
        raise ValueError(f"backbone.max_length {bb.max_length} exceeds the backbone's "
                         f"max_position_embeddings {backbone.config.max_position_embeddings}")
    info = BackboneInfo.from_model(backbone, tokenizer)
    embeddings = backbone.get_input_embeddings()
    heads = {}
    for spec in config.heads:
        kwargs = {"word_embeddings": embeddings} if HEAD_KINDS[spec.kind].ties_embeddings else {}
        config = HEAD_KINDS[spec.kind].new_config(spec.config)
        heads[spec.name] = build_head(spec.name, spec.kind, info, config, **kwargs)
    return MultiTaskModel(backbone, heads, info), tokenizer, source
