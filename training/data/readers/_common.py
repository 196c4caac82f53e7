"""What the readers share: loading with errors that name the file and place, strict field access,
span search and a light sentence splitter."""
from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any

from model.example import Span

log = logging.getLogger("training.data.readers")

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")


def existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset file {path} does not exist")
    return path


def load_json(path: str | Path) -> Any:
    path = existing(path)
    try:
        with path.open(encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: line {err.lineno}, column {err.colno}: not valid JSON ({err.msg})") from err
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err})") from err


def require(obj: Any, key: str, kind: type | tuple[type, ...], path: Path, where: str) -> Any:
    """obj[key], or a ValueError that says which file, which entry and what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: {where}: expected an object, got {type(obj).__name__}")
    if key not in obj:
        raise ValueError(f"{path}: {where}: missing {key!r}")
    value = obj[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ValueError(f"{path}: {where}.{key}: expected {names}, got {type(value).__name__}")
    return value


def find(text: str, needle: str, field_name: str = "context") -> Span | None:
    """First exact occurrence of needle; failing that, a case-insensitive one (the span keeps the
    text's own casing so it still matches its slice)."""
    needle = needle.strip()
    if not needle:
        return None
    start = text.find(needle)
    if start < 0:
        start = text.lower().find(needle.lower())
    found = text[start : start + len(needle)] if start >= 0 else ""
    # lower() can change a string's length (e.g. "İ"), so the offset must be checked, not trusted.
    if not found or found.lower() != needle.lower():
        return None
    return Span(start, start + len(needle), found, field_name)


def sentence_bounds(text: str) -> list[tuple[int, int]]:
    """[start, end) of each sentence, by punctuation; good enough to name an evidence sentence."""
    bounds, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        end = m.start() + len(m.group(0).rstrip())
        bounds.append((start, end))
        start = m.end()
    if start < len(text):
        bounds.append((start, len(text.rstrip())))
    return [(s, e) for s, e in bounds if e > s]


def sentence_around(text: str, span: Span) -> Span:
    """The sentence(s) holding span, as one context span."""
    bounds = sentence_bounds(text)
    start = next((s for s, e in bounds if s <= span.start < e), span.start)
    end = next((e for s, e in bounds if s < span.end <= e), span.end)
    start, end = min(start, span.start), max(end, span.end)
    return Span(start, end, text[start:end])


class Skips:
    """Counts examples left out (answer not found, unsupported answer), reported once per file."""

    def __init__(self, reader: str, path: Path) -> None:
        self.reader, self.path = reader, path
        self.counts: Counter[str] = Counter()

    def add(self, reason: str) -> None:
        self.counts[reason] += 1

    def report(self, kept: int, stats: dict | None) -> None:
        if self.counts:
            log.warning("%s(%s): kept %d, skipped %d (%s)", self.reader, self.path, kept,
                        sum(self.counts.values()), dict(self.counts))
        if stats is not None:
            stats.update(kept=kept, skipped=dict(self.counts))
