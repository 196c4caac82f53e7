from __future__ import annotations

import pytest

from training.testing import make_random_checkpoint


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory):
    """A tiny checkpoint with random weights (hidden 32, every head kind), made once per session."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny-random"
    make_random_checkpoint(path, seed=0)
    return path
