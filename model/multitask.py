"""One backbone and an nn.ModuleDict of heads: the input is encoded once and any subset of heads
reads that one encoding."""
from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn
from transformers import PreTrainedModel

from model.backbone import BackboneInfo, run_backbone
from model.encoding import Encoding
from model.heads import Head, HeadBatch


class MultiTaskModel(nn.Module):
    def __init__(self, backbone: PreTrainedModel, heads: dict[str, Head], info: BackboneInfo):
        super().__init__()
        self.backbone = backbone
        self.heads = nn.ModuleDict(heads)
        self.info = info
        # Counts backbone passes, so tests (and the service) can check "once per input".
        self.backbone_calls = 0
        # Rows of a batch run in this many groups of similar length (model/backbone.py:
        # run_backbone); training on a CPU sets it from optim.length_groups.
        self.length_groups = 1

    def encode(self, enc: Encoding) -> HeadBatch:
        self.backbone_calls += 1
        hidden = run_backbone(self.backbone, enc.model_inputs(), self.length_groups)
        return HeadBatch.from_encoding(enc, hidden)

    def _head_names(self, names: Iterable[str] | None) -> list[str]:
        names = list(self.heads) if names is None else list(names)
        unknown = [n for n in names if n not in self.heads]
        if unknown:
            raise KeyError(f"unknown heads {unknown}; this model has {list(self.heads)}")
        return names

    def forward(self, enc: Encoding, heads: Iterable[str] | None = None) -> dict[str, Any]:
        """Raw outputs of the chosen heads (all by default) from one backbone pass."""
        batch = self.encode(enc)
        return {name: self.heads[name](batch) for name in self._head_names(heads)}

    @torch.no_grad()
    def predict(self, enc: Encoding, tokenizer, heads: Iterable[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        """Readable predictions of the chosen heads, one dict per input, from one backbone pass."""
        batch = self.encode(enc)
        return {name: self.heads[name].decode(self.heads[name](batch), batch, tokenizer) for name in self._head_names(heads)}
