"""Freezing parts of the backbone: a frozen part gets no gradient and no update, the rest still
learns, and a count the backbone cannot meet is refused with the valid range."""
from __future__ import annotations

import pytest
import torch

from model import build_tiny_backbone
from training.config import ConfigError, OptimConfig, load_config
from training.freezing import apply_freezing, encoder_layers


def _step(backbone) -> dict[str, torch.Tensor]:
    before = {n: p.detach().clone() for n, p in backbone.named_parameters()}
    trained = [p for p in backbone.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trained, lr=1e-2)
    ids = torch.randint(5, 90, (2, 12))
    backbone(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state.pow(2).mean().backward()
    opt.step()
    return {n: not torch.equal(before[n], p.detach()) for n, p in backbone.named_parameters()}


def test_frozen_layers_and_embeddings_do_not_change_and_the_layers_above_do():
    backbone = build_tiny_backbone(100, seed=0)
    counts = apply_freezing(backbone, OptimConfig(freeze_layers=1))
    changed = _step(backbone)
    assert not any(v for n, v in changed.items() if n.startswith(("embeddings.", "encoder.layer.0.")))
    assert any(v for n, v in changed.items() if n.startswith("encoder.layer.1."))
    assert all(p.grad is None for p in encoder_layers(backbone)[0].parameters())  # backward stopped above it
    assert counts["frozen"] > 0 and counts["trained"] > 0
    assert counts["trained"] + counts["frozen"] == sum(p.numel() for p in backbone.parameters())


def test_frozen_word_embeddings_alone_leave_every_layer_training():
    backbone = build_tiny_backbone(100, seed=0)
    apply_freezing(backbone, OptimConfig(freeze_embeddings=True))
    changed = _step(backbone)
    assert not changed["embeddings.word_embeddings.weight"]
    assert changed["encoder.layer.0.attention.self.query.weight"]


def test_more_frozen_layers_than_the_backbone_has_is_refused():
    backbone = build_tiny_backbone(100, seed=0)
    n = len(encoder_layers(backbone))
    with pytest.raises(ValueError, match=rf"optim.freeze_layers: {n + 1} is more than the backbone's {n} layers"):
        apply_freezing(backbone, OptimConfig(freeze_layers=n + 1))


def test_a_negative_layer_count_fails_before_training():
    with pytest.raises(ConfigError, match="optim.freeze_layers"):
        load_config(preset="tiny", overrides={"optim.freeze_layers": -1})


def test_dropout_zero_makes_a_training_model_deterministic_and_none_keeps_it():
    """optim.dropout: 0 turns off every dropout of the model in training mode, the backbone's
    attention dropout and the generative head's included; None leaves the model as built."""
    from model import encode
    from training.build import build_model
    from training.freezing import set_dropout

    config = load_config(preset="tiny")
    model, tokenizer, _ = build_model(config, ["The Bears scored 24 points.", "How many more points?"])
    model.train()
    enc = encode(tokenizer, ["How many more points?"], ["The Bears scored 24 points."], **config.backbone.encoding())

    assert set_dropout(model, None) == 0
    assert not torch.equal(model.encode(enc).hidden, model.encode(enc).hidden)  # as built: dropout draws
    assert set_dropout(model, 0.0) > 0
    assert torch.equal(model.encode(enc).hidden, model.encode(enc).hidden)
    assert all(m.p == 0.0 for m in model.modules() if isinstance(m, torch.nn.Dropout))


def test_a_dropout_outside_0_1_fails_before_training():
    with pytest.raises(ConfigError, match="optim.dropout"):
        load_config(preset="tiny", overrides={"optim.dropout": 1.5})
