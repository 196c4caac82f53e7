"""Character spans -> token positions, shared by the span and tagging heads' label builders."""
from __future__ import annotations

from typing import Any

from model.encoding import SEG_CONTEXT, SEG_QUESTION


def token_span(batch: Any, window: int, span: Any) -> tuple[int, int] | None:
    """First and last token of `window` covering span.start..span.end in span.field, or None if
    the window does not hold the whole span."""
    want = SEG_CONTEXT if span.field == "context" else SEG_QUESTION
    seg = batch.segments[window].tolist()
    offsets = batch.offsets[window].tolist()
    first = last = None
    for t, (s, e) in enumerate(offsets):
        if seg[t] != want or e <= s:
            continue
        if s < span.end and e > span.start:
            if first is None:
                first = t
            last = t
    if first is None:
        return None
    # The span must start and end inside this window, not be cut by the window's edge.
    if offsets[first][0] > span.start or offsets[last][1] < span.end:
        return None
    return first, last
