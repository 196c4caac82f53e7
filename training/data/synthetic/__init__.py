"""Synthetic data for the paper's three settings, built so that emergent behaviour is measurable.

`generate(setting, n, seed, split)` is the one entry point; split "heldout" uses only question
templates that split "train" never uses.
"""
from __future__ import annotations

from model.example import SETTINGS, Example


def generate(setting: str, n: int, seed: int, split: str = "train") -> list[Example]:
    """n examples of `setting`; the same (setting, n, seed, split) always gives the same list."""
    from training.data.synthetic import multihop, numeric, qa_summary

    generators = {"numeric": numeric.generate, "multihop": multihop.generate, "qa_summary": qa_summary.generate}
    if setting not in generators:
        raise ValueError(f"unknown setting {setting!r}; valid settings: {list(SETTINGS)}")
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    return generators[setting](n, seed, split)


__all__ = ["generate"]
