"""Requests the load tests send: the paper's three settings, from training's synthetic generators.

A synthetic passage is 230-590 characters; the real datasets' passages (DROP, SQuAD, HotpotQA's
paragraph pairs) are longer, and the backbone's cost grows with length, so each passage is padded
with other passages of the same setting (distractors, as in HotpotQA) up to a realistic length.
The question stays answerable: its own passage comes first and is kept whole.
"""
from __future__ import annotations

import random
from typing import Any

# Characters per passage: 110-150 words, 130-190 word pieces with the question, about the size of
# a SQuAD paragraph and within the quick model's window (192 tokens), so most inputs are one
# window and some are two, as with real paragraphs.
REALISTIC_CHARS = {"numeric": 550, "multihop": 650, "qa_summary": 550}
SETTINGS = tuple(REALISTIC_CHARS)


def sample_requests(n_per_setting: int, seed: int = 11, min_chars: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """`n_per_setting` requests of each setting, interleaved so any prefix is a mix of all three.

    Each is a /v1/predict body: {"task", "inputs": {"question", "context"} | {"text"}}."""
    from training.data.synthetic import generate

    lengths = REALISTIC_CHARS if min_chars is None else min_chars
    per_setting = []
    for setting in SETTINGS:
        examples = generate(setting, max(n_per_setting, 1) * 3, seed=seed)
        rng = random.Random(f"{seed}-{setting}")
        bodies = []
        for e in examples[:n_per_setting]:
            passage = pad_passage(e.context, [x.context for x in examples if x.context != e.context], lengths.get(setting, 0), rng)
            inputs = {"question": e.question, "context": passage} if e.question else {"text": passage}
            bodies.append({"task": e.task, "inputs": inputs})
        per_setting.append(bodies)
    return [body for group in zip(*per_setting) for body in group]


def pad_passage(passage: str, others: list[str], min_chars: int, rng: random.Random) -> str:
    """`passage` followed by distractor passages until it has at least `min_chars` characters."""
    pool = list(others)
    rng.shuffle(pool)
    parts = [passage]
    while sum(len(p) + 1 for p in parts) - 1 < min_chars and pool:
        parts.append(pool.pop())
    return " ".join(parts)


def with_heads(body: dict[str, Any], target: str, others: list[str]) -> dict[str, Any]:
    """The same inputs, answered by head `target` with exactly the non-target heads `others`."""
    return {"target_head": target, "inputs": body["inputs"], "heads": list(others)}
