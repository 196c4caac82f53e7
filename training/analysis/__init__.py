"""Emergent-behaviour analysis: what the non-target heads say, measured against ground truth and
against controls (single-task heads, randomly initialised heads)."""
