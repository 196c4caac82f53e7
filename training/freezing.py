"""Which backbone parameters a run trains, and how much dropout it trains with. Both are speed
levers for a CPU: a frozen part gets no gradient, no AdamW state and no update, and backward stops
at the lowest trained layer; a dropout of 0 draws no random masks (on this CPU, one thread, batch
16 of MiniLM: ~20% of the backbone's forward and backward)."""
from __future__ import annotations

from torch import nn

from training.config import OptimConfig


def encoder_layers(backbone: nn.Module) -> nn.ModuleList:
    """The stack of transformer layers of a BERT-like encoder (`encoder.layer`)."""
    layers = getattr(getattr(backbone, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise ValueError(f"optim.freeze_layers: the backbone ({type(backbone).__name__}) has no encoder.layer stack; "
                         "set optim.freeze_layers: 0")
    return layers


def apply_freezing(backbone: nn.Module, optim: OptimConfig) -> dict[str, int]:
    """Turns gradients off as the config says; returns trained and frozen parameter counts."""
    if optim.freeze_backbone:
        backbone.requires_grad_(False)
    if optim.freeze_embeddings or optim.freeze_layers:
        # Layers above frozen embeddings still train; frozen layers with trained embeddings under
        # them would save nothing (backward would still run through them), hence both.
        backbone.get_input_embeddings().requires_grad_(False)
    if optim.freeze_layers:
        layers = encoder_layers(backbone)
        if optim.freeze_layers > len(layers):
            raise ValueError(f"optim.freeze_layers: {optim.freeze_layers} is more than the backbone's "
                             f"{len(layers)} layers; use 0..{len(layers)}")
        embeddings = getattr(backbone, "embeddings", None)
        if embeddings is not None:
            embeddings.requires_grad_(False)
        for layer in layers[: optim.freeze_layers]:
            layer.requires_grad_(False)
    params = list(backbone.parameters())
    return {"trained": sum(p.numel() for p in params if p.requires_grad),
            "frozen": sum(p.numel() for p in params if not p.requires_grad)}


def set_dropout(model: nn.Module, p: float | None) -> int:
    """Sets every dropout of `model` (the backbone's attention dropout included: BERT reads its
    rate from the module) to `p`; None leaves them as built. Returns how many were set."""
    if p is None:
        return 0
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    for module in dropouts:
        module.p = p
    return len(dropouts)
