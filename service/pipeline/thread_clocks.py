"""The CPU time of one thread and of the worker threads it drives (torch's intra-op pool).

The forward pass runs on the calling thread and on torch's pool of intra-op threads (OpenMP
workers, which are no Python threads). Timing it with the whole process's CPU clock also bills it
whatever other threads did meanwhile: in a Serve replica that is the event loops parsing HTTP and
running Serve's request code, which on a busy CPU overlaps the forward nearly all the time
(measured per thread, /proc: 1.6 of the router replica's ~4 ms per request went to the forward
that way). So a timed block reads the caller's clock and its workers' clocks only.

The workers are found by watching. A calling thread's timed blocks read every thread of the
process until one of them shows a worker, for 50 blocks at most (a CPU's pool shows in the first
batch, in the backbone's forward; a health check's tiny input or a head's small ops may not use
it). Past those, while none is known (a GPU's forward leaves the pool idle), one block in 8 chosen
at random reads every thread, and one in 100 once some are known (a pool can be resized).
At random, not every n-th: a batch is a fixed cycle of blocks (the backbone, then each head), and
every n-th block fell on the same head each time. A thread that is not a Python thread (OpenMP
workers never are; event loops, Serve's and ours, are) and spent at least a quarter of what the
caller did is one of its workers: a pool splits each op evenly. Workers are kept once seen: the same thread runs the backbone on its pool and a generative
head's small ops without it, and a probe of the latter would otherwise forget the pool (it did:
the router's forward lost its OpenMP worker's CPU). Between probes only the caller and its
workers are read: a few clock reads a block, not one per thread.
Linux only (per-thread CPU clocks of other threads); elsewhere the whole process is read, as before.
"""
from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

EAGER_PROBES = 50  # blocks that all read every thread while no worker is known (a CPU's pool shows in the first batch)
PROBE_UNKNOWN = 1 / 8  # the share of blocks after those that read every thread while none is known (a GPU's)
PROBE_KNOWN = 1 / 100  # ... and once some are
MIN_PROBE_S = 0.010  # a block that kept the caller busy this long shows its workers (a tiny op may run on one thread)
WORKER_SHARE = 0.25  # a worker spent at least this share of the caller's CPU time in the block
_TASKS = "/proc/self/task"


def _thread_cpu(tid: int) -> float:
    """CPU seconds of thread `tid` of this process; 0 once it has exited."""
    try:
        # The kernel's per-thread CPU clock id (CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD, tid), the
        # value glibc's pthread_getcpuclockid builds; readable for any thread of the same process.
        return time.clock_gettime((~tid << 3) | 6)
    except OSError:
        return 0.0


def per_thread_clocks_work() -> bool:
    if not os.path.isdir(_TASKS):
        return False
    try:
        mine = time.clock_gettime((~threading.get_native_id() << 3) | 6)
    except OSError:
        return False
    return abs(mine - time.thread_time()) < 0.5


@dataclass
class Reading:
    """What `WorkerThreads.start` read, for its `stop`."""

    caller: int
    before: dict[int, float] = field(default_factory=dict)  # CPU seconds of the threads read
    probe: bool = False  # every thread was read, to find the caller's workers
    process0: float = 0.0  # without per-thread clocks: the whole process's CPU seconds


class WorkerThreads:
    """Which threads a calling thread's timed blocks run on, learnt per caller; where the system
    has no per-thread clocks of other threads, the whole process's CPU instead."""

    def __init__(self, all_threads: Callable[[], list[int]] | None = None) -> None:
        self._all_threads = all_threads or (lambda: [int(t) for t in os.listdir(_TASKS)])
        self._workers: dict[int, set[int]] = {}  # caller -> its workers, once a long enough block showed them
        self._probes: dict[int, int] = {}  # caller -> blocks started while none of its workers was known
        self._lock = threading.Lock()
        self.enabled = per_thread_clocks_work()

    def start(self) -> Reading:
        caller = threading.get_native_id()
        if not self.enabled:
            return Reading(caller, process0=time.process_time())
        with self._lock:
            known = self._workers.get(caller)
            probes = self._probes[caller] = self._probes.get(caller, 0) + (not known)
        if known:
            probe = random.random() < PROBE_KNOWN
        else:  # none known yet (None: no block long enough so far)
            probe = known is None or probes <= EAGER_PROBES or random.random() < PROBE_UNKNOWN
        tids = self._all_threads() if probe else [caller, *known]  # type: ignore[misc]
        return Reading(caller, {tid: _thread_cpu(tid) for tid in tids}, probe)

    def stop(self, reading: Reading) -> float:
        """CPU seconds the caller and its workers spent since `start`."""
        if not self.enabled:
            return time.process_time() - reading.process0
        if not reading.probe:  # only the caller and its known workers were read
            return sum(max(_thread_cpu(tid) - cpu, 0.0) for tid, cpu in reading.before.items())
        caller, before = reading.caller, reading.before
        # every thread, those started during the block too (a pool's first parallel op starts its workers)
        spent = {tid: _thread_cpu(tid) - before.get(tid, 0.0) for tid in {*before, *self._all_threads()}}
        own = spent.pop(caller, 0.0)
        python_threads = {t.native_id for t in threading.enumerate()}
        workers = {tid for tid, s in spent.items() if tid not in python_threads and s >= WORKER_SHARE * own > 0}
        with self._lock:
            # Every worker seen so far stays one: a thread runs the backbone's forward on its pool
            # and a generative head's small ops without it, so a block may show none of them.
            known = self._workers.get(caller, set())
            if own >= MIN_PROBE_S or caller in self._workers:
                self._workers[caller] = known | workers
        return own + sum(spent[tid] for tid in workers | (known & spent.keys()))
