"""The multi-task model and its checkpoint: what `training` writes and `service` reads.

One backbone, a registry of small heads, the model that joins them, the checkpoint contract
(`model.checkpoint`), the example schema (`model.example`) and the arithmetic that explains a
number from extracted spans (`model.arithmetic`). This package imports neither `training` nor
`service`: both depend on it.
"""
from model.backbone import BackboneInfo, build_tiny_backbone, load_pretrained_backbone
from model.encoding import Encoding, encode
from model.heads import HEAD_KINDS, Head, build_head
from model.multitask import MultiTaskModel

__all__ = [
    "BackboneInfo",
    "Encoding",
    "HEAD_KINDS",
    "Head",
    "MultiTaskModel",
    "build_head",
    "build_tiny_backbone",
    "encode",
    "load_pretrained_backbone",
]
