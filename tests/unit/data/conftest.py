"""Generated data shared by the data tests (generation is deterministic, so module scope is safe)."""
from __future__ import annotations

import pytest

from training.data.synthetic import generate


@pytest.fixture(scope="session")
def synthetic():
    """(setting, split) -> 600 examples."""
    cache: dict = {}

    def get(setting: str, split: str = "train", n: int = 600, seed: int = 11):
        key = (setting, split, n, seed)
        if key not in cache:
            cache[key] = generate(setting, n, seed, split)
        return cache[key]

    return get
