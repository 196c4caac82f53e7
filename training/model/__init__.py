"""Model code: one backbone, a registry of small heads, and the multi-task model that joins them."""
from training.model.backbone import BackboneInfo, build_tiny_backbone, load_pretrained_backbone
from training.model.encoding import Encoding, encode
from training.model.heads import HEAD_KINDS, Head, build_head
from training.model.multitask import MultiTaskModel

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
