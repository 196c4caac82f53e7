"""The forward pass's clock counts the calling thread and torch's intra-op workers, not what other
threads of the process do meanwhile (an event loop's HTTP and Serve code is host cost)."""
import threading
import time

import pytest
import torch

from service.pipeline.hostcost import FORWARD, StageClock
from service.pipeline.thread_clocks import WorkerThreads, per_thread_clocks_work

pytestmark = pytest.mark.skipif(not per_thread_clocks_work(), reason="per-thread CPU clocks of other threads are Linux's")


def matmuls(seconds: float) -> None:
    a = torch.randn(400, 400)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        a @ a


def test_a_busy_python_thread_beside_the_forward_is_not_billed_to_it():
    clock = StageClock()
    stop = threading.Event()
    burnt = {}

    def event_loop_stand_in() -> None:
        t0 = time.thread_time()
        x = 0
        while not stop.is_set():
            x += 1
        burnt["s"] = time.thread_time() - t0

    def forwards() -> None:
        torch.set_num_threads(2)
        for _ in range(4):  # the first blocks find the workers; the later ones read only them
            with clock.stage(FORWARD, with_workers=True):
                matmuls(0.25)

    burner = threading.Thread(target=event_loop_stand_in)
    compute = threading.Thread(target=forwards)
    process0 = time.process_time()
    burner.start()
    compute.start()
    compute.join()
    stop.set()
    burner.join()
    process = time.process_time() - process0
    forward = clock.snapshot()["stages"][FORWARD]
    assert burnt["s"] > 0.2, "the stand-in event loop should have run beside the forwards"
    # the forward's CPU is what the process spent less the busy thread's, not all of it
    assert forward <= process - 0.8 * burnt["s"]
    assert forward >= 0.5 * (process - burnt["s"])


@pytest.fixture
def fake_threads(monkeypatch):
    """Thread 1 is the caller; the test sets every thread's CPU seconds in the returned dict."""
    import service.pipeline.thread_clocks as tc

    cpu: dict[int, float] = {}
    monkeypatch.setattr(tc, "_thread_cpu", lambda tid: cpu[tid])
    monkeypatch.setattr(threading, "get_native_id", lambda: 1)
    watcher = WorkerThreads(all_threads=lambda: list(cpu))
    watcher.enabled = True
    return cpu, watcher, lambda name, value: monkeypatch.setattr(tc, name, value)


def test_workers_are_the_non_python_threads_that_shared_the_callers_work(fake_threads):
    cpu, watcher, set_ = fake_threads
    cpu.update({1: 0.0, 2: 0.0, 3: 0.0})  # 1 the caller, 2 an OpenMP worker, 3 an idle Ray thread
    reading = watcher.start()
    cpu.update({1: 0.05, 2: 0.04, 3: 0.001})
    assert watcher.stop(reading) == pytest.approx(0.09)
    set_("PROBE_KNOWN", 0.0)
    reading = watcher.start()
    assert set(reading.before) == {1, 2}, "once known, only the caller and its worker are read"
    cpu.update({1: 0.10, 2: 0.08, 3: 0.5})
    assert watcher.stop(reading) == pytest.approx(0.09)


def test_a_block_that_left_the_pool_idle_does_not_forget_it(fake_threads):
    # The compute thread runs the backbone on its pool, then a generative head's small ops
    # without it; a probe of the second must not drop the pool from the first.
    cpu, watcher, set_ = fake_threads
    cpu.update({1: 0.0, 2: 0.0})
    reading = watcher.start()  # the backbone: caller and worker busy alike
    cpu.update({1: 0.05, 2: 0.05})
    assert watcher.stop(reading) == pytest.approx(0.10)
    set_("PROBE_KNOWN", 1.0)  # every block of the heads reads every thread, the idle pool included
    for _ in range(5):
        reading = watcher.start()
        assert set(reading.before) == {1, 2}
        cpu[1] += 0.02
        watcher.stop(reading)
    set_("PROBE_KNOWN", 0.0)
    reading = watcher.start()
    assert set(reading.before) == {1, 2}
    cpu.update({1: cpu[1] + 0.05, 2: cpu[2] + 0.05})
    assert watcher.stop(reading) == pytest.approx(0.10)


def test_a_pool_left_idle_by_the_first_long_block_is_found_in_the_next(fake_threads):
    # A replica's first long block may be the health check's tiny input, on one thread; the
    # backbone's forward right after it must still find the pool, not wait for a chance probe.
    cpu, watcher, set_ = fake_threads
    set_("PROBE_UNKNOWN", 0.0)
    cpu.update({1: 0.0, 2: 0.0})
    reading = watcher.start()
    cpu[1] += 0.02  # the health check: the caller alone
    assert watcher.stop(reading) == pytest.approx(0.02)
    reading = watcher.start()
    assert set(reading.before) == {1, 2}, "no worker known yet: every thread is read"
    cpu.update({1: cpu[1] + 0.05, 2: cpu[2] + 0.05})  # the backbone on its pool
    assert watcher.stop(reading) == pytest.approx(0.10)
