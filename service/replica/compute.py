"""Where a replica runs model code: in a worker thread with the stage's torch threads, one call at
a time (the batch, or Serve's health check behind it; batcher.py forms the batches).

Ray sets OMP_NUM_THREADS=1 in replicas; torch.set_num_threads() called in the replica's main
thread does not carry over to a thread started later (a 1024x1024 matmul loop took 230 ms in
asyncio.to_thread vs 140 ms in the main thread, measured on a 2-core CPU). The worker thread sets
it itself.

On a GPU, $WIYH_AUTOCAST=float16|bfloat16 runs the model code under CUDA autocast (weights stay
float32, matmuls run in the half type: 2-4x less time per pass on tensor cores). It is read here,
in every replica (Ray passes the environment of `ray start` to its workers), so one variable
switches every stage; it changes nothing on a CPU. scripts/gpu/bench.sh sets it.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

import torch

T = TypeVar("T")

AUTOCAST_ENV = "WIYH_AUTOCAST"
AUTOCAST_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def autocast_dtype(value: str | None) -> torch.dtype | None:
    """The half type named by $WIYH_AUTOCAST (unset or empty: none)."""
    if not value:
        return None
    if value not in AUTOCAST_DTYPES:
        raise ValueError(f"${AUTOCAST_ENV}={value!r}; valid values: {sorted(AUTOCAST_DTYPES)} (or unset for float32)")
    return AUTOCAST_DTYPES[value]


class ComputeSlot:
    def __init__(self, torch_threads: int | None = None, name: str = "model", autocast: str | None = None):
        initializer = (lambda: torch.set_num_threads(torch_threads)) if torch_threads else None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name, initializer=initializer)
        dtype = autocast_dtype(autocast if autocast is not None else os.environ.get(AUTOCAST_ENV))
        # Autocast is per thread: it must be entered in the worker thread, around each batch.
        self._autocast = dtype if dtype is not None and torch.cuda.is_available() else None

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        guard = torch.autocast("cuda", dtype=self._autocast) if self._autocast is not None else contextlib.nullcontext()
        with guard:
            return fn(*args)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in the worker thread, after whatever runs there now."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, fn, *args)
