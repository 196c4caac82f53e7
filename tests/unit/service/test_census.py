"""The router's replica census: a call is short-circuited only when Serve is known to be starting
replicas of the stage and none runs; anything unknown lets the call go ahead."""
from __future__ import annotations

import asyncio

from service.census import Counts, ReplicaCensus


def answers(counts: Counts | Exception):
    def fetch(app: str) -> Counts:
        assert app == "wiyh"
        if isinstance(counts, Exception):
            raise counts
        return counts
    return fetch


def check(census: ReplicaCensus, deployment: str) -> bool:
    async def go() -> bool:
        await census.refresh()
        verdict = census.none_running(deployment)
        census._task.cancel()  # the background poller belongs to this test's event loop
        return verdict
    return asyncio.run(go())


def test_a_stage_whose_replicas_are_all_starting_is_short_circuited():
    counts = {"head_summary": (0, 2), "backbone": (1, 2), "head_span": (2, 2)}
    census = ReplicaCensus("wiyh", fetch=answers(counts))
    assert check(census, "head_summary") is True
    assert check(census, "backbone") is False  # one of two still runs: the call can go there
    assert check(census, "head_span") is False


def test_unknown_or_scaled_to_zero_never_blocks_a_call():
    census = ReplicaCensus("wiyh", fetch=answers({"head_number": (0, 0)}))
    assert check(census, "head_number") is False  # scaled to zero: a call is what starts a replica
    assert check(census, "head_other") is False  # not in the census
    assert check(ReplicaCensus("wiyh", fetch=answers(RuntimeError("controller down"))), "head_number") is False


def test_before_the_first_answer_calls_go_ahead():
    async def go() -> bool:
        census = ReplicaCensus("wiyh", every_s=60, fetch=answers({"backbone": (0, 1)}))
        verdict = census.none_running("backbone")  # starts the poller; no answer has arrived yet
        census._task.cancel()
        return verdict
    assert asyncio.run(go()) is False


def lost(census: ReplicaCensus, deployment: str) -> bool:
    async def go() -> bool:
        await census.refresh()
        return await census.lost_a_replica(deployment)
    return asyncio.run(go())


def test_a_replica_process_gone_before_the_controller_noticed_counts_as_lost():
    def alive(count):
        def fetch(app: str, deployment: str) -> int:
            assert (app, deployment) == ("wiyh", "head_number")
            if isinstance(count, Exception):
                raise count
            return count
        return fetch

    counts = {"head_number": (1, 1)}  # the controller still says RUNNING
    assert lost(ReplicaCensus("wiyh", fetch=answers(counts), alive=alive(0)), "head_number") is True
    assert lost(ReplicaCensus("wiyh", fetch=answers(counts), alive=alive(1)), "head_number") is False  # just slow
    # the GCS cannot be asked, or the census knows nothing: the timeout stands as a timeout
    assert lost(ReplicaCensus("wiyh", fetch=answers(counts), alive=alive(RuntimeError("gcs"))), "head_number") is False
    assert lost(ReplicaCensus("wiyh", fetch=answers(RuntimeError("controller down")), alive=alive(0)), "head_number") is False
