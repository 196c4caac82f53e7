"""The backbone's own references to stored inputs: kept for exactly the time a request can still
read them, then let go (held_inputs.py says why Ray needs the backbone to keep them)."""
from __future__ import annotations

import gc
import weakref

import pytest

from service.deploy.held_inputs import HeldInputs, hold_for
from service.deploy.settings import Timeouts


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Stored:
    """Stands for an ObjectRef: what matters is whether anything still refers to it."""


def test_an_input_outlives_the_callers_reference_until_its_deadline():
    clock = Clock()
    held = HeldInputs(hold_s=20, clock=clock)
    stored = Stored()
    alive = weakref.ref(stored)
    held.hold(stored)
    del stored
    gc.collect()
    clock.now += 19.9
    held.release_expired()
    gc.collect()
    assert alive() is not None, "released before a head could have read it"
    clock.now += 0.2
    assert held.release_expired() == 1
    gc.collect()
    assert alive() is None, "kept after its deadline: the object store would only grow"
    assert len(held) == 0


def test_holding_a_new_input_releases_the_expired_ones_oldest_first():
    clock = Clock()
    held = HeldInputs(hold_s=5, clock=clock)
    first, second = Stored(), Stored()
    held.hold(first)
    clock.now += 3
    held.hold(second)
    clock.now += 2.5  # first's deadline passed, second's not
    held.hold(Stored())
    assert len(held) == 2


def test_the_hold_covers_the_routers_whole_budget_after_the_call():
    # The router waits backbone_s for the answer, then the longest head timeout for the heads.
    assert hold_for(Timeouts(backbone_s=10, target_head_s=3, non_target_head_s=7)) == 17
    assert hold_for(Timeouts(backbone_s=1, target_head_s=9, non_target_head_s=2)) == 10


def test_a_hold_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match="hold_s must be positive"):
        HeldInputs(hold_s=0)
