"""Data for the three settings: the shared Example schema, synthetic generators, real-format readers."""
from training.data.readers import read_cnndm, read_drop, read_hotpot, read_squad
from model.example import Example, Span, TASKS, read_jsonl, write_jsonl
from training.data.synthetic import generate

__all__ = [
    "Example", "Span", "TASKS", "generate", "read_cnndm", "read_drop", "read_hotpot", "read_jsonl", "read_squad",
    "write_jsonl",
]
