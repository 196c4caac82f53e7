"""CNN/DailyMail-style jsonl ({"id"?, "article", "highlights"}) -> "summarize" examples."""
from __future__ import annotations

import json
from pathlib import Path

from training.data.readers._common import existing
from model.example import Example


def read_cnndm(path: str | Path) -> list[Example]:
    """One example per non-blank line; answer = highlights. A bad line raises an error naming
    the file and the line number."""
    path = existing(path)
    out: list[Example] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{where}: not valid JSON ({err.msg})") from err
            if not isinstance(row, dict):
                raise ValueError(f"{where}: expected an object, got {type(row).__name__}")
            for key in ("article", "highlights"):
                if not isinstance(row.get(key), str) or not row[key].strip():
                    raise ValueError(f"{where}: {key!r} must be a non-empty string, got {row.get(key)!r:.60}")
            out.append(Example(
                id=str(row.get("id") or f"{path.stem}-{lineno}"), setting="qa_summary", task="summarize",
                context=row["article"], answer=row["highlights"].strip(), answer_type="summary",
            ))
    return out
