"""Requests the load tests send, from training's synthetic generators. A synthetic passage is
230-590 characters, a real dataset's longer, and the backbone's cost grows with length: the
benchmark pads each passage with other passages of its setting (distractors, as in HotpotQA), its
own first and whole, so the question stays answerable."""
from __future__ import annotations

import itertools
import random
from typing import Any, Iterable

# Characters per passage: 110-150 words, 130-190 word pieces with the question, about the size of
# a SQuAD paragraph and within the quick model's window (192 tokens), so most inputs are one
# window and some are two, as with real paragraphs.
REALISTIC_CHARS = {"numeric": 550, "multihop": 650, "qa_summary": 550}
SETTINGS = tuple(REALISTIC_CHARS)
# The fault and soak runs' tasks: one per kind of target head (span, generative number and
# summary, classification, tagging).
TARGET_TASKS = ("squad", "drop_number", "summarize", "hotpot_yesno", "drop_spans")


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


def target_requests(n_per_setting: int = 20, seed: int = 5, tasks: Iterable[str] = TARGET_TASKS) -> list[dict[str, Any]]:
    """The generators' own passages (not padded) of `tasks`, every head asked, interleaved by task so
    that every second of an open loop sees each target head."""
    from training.data.synthetic import generate

    wanted = set(tasks)
    by_task: dict[str, list[dict[str, Any]]] = {}
    for setting in SETTINGS:
        for e in generate(setting, n_per_setting, seed=seed):
            if e.task in wanted:
                inputs = {"question": e.question, "context": e.context} if e.question else {"text": e.context}
                by_task.setdefault(e.task, []).append({"task": e.task, "inputs": inputs})
    if not by_task:
        raise ValueError(f"the generators made no example of the tasks {sorted(wanted)}")
    return [b for row in itertools.zip_longest(*by_task.values()) for b in row if b is not None]
