"""The head registry. A new head kind is one module here that registers itself with
@register_head("kind"); importing it below makes it buildable by name."""
from model.heads.base import HEAD_KINDS, Head, HeadBatch, build_head, register_head
from model.heads import classification, generative, span, tagging  # noqa: F401  (registers the kinds)

__all__ = ["HEAD_KINDS", "Head", "HeadBatch", "build_head", "register_head"]
