"""How many hostile cases each fuzz / property test tried, printed at the end of the pytest run
(tests/conftest.py), so CI logs carry the figure the reliability note quotes."""
from __future__ import annotations

from collections import Counter, defaultdict

TRIED: dict[str, Counter] = defaultdict(Counter)


def record(test: str, outcome: str | int) -> None:
    """One case of `test` ended in `outcome` (an HTTP status, or a label such as "ok")."""
    TRIED[test][str(outcome)] += 1


def summary_lines() -> list[str]:
    lines = []
    for test, outcomes in sorted(TRIED.items()):
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
        lines.append(f"{test}: {sum(outcomes.values())} cases ({detail})")
    if lines:
        lines.append(f"total hostile cases: {sum(sum(c.values()) for c in TRIED.values())}")
    return lines
