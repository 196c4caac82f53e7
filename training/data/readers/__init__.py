"""Readers for the real dataset formats; each returns Examples in the shared schema.

A missing file raises FileNotFoundError; malformed content raises ValueError naming the file and
the line (jsonl) or the entry (JSON) and what is wrong. A reader checks the whole file before it
returns anything, so training never starts on a file read half-way. Examples whose answer can't be
located are skipped, counted in the optional `stats` dict and logged, never kept with a wrong span.
"""
from training.data.readers.cnndm import read_cnndm
from training.data.readers.drop import read_drop
from training.data.readers.hotpot import read_hotpot
from training.data.readers.squad import read_squad

__all__ = ["read_cnndm", "read_drop", "read_hotpot", "read_squad"]
