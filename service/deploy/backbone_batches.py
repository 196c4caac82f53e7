"""The backbone's batching, wherever it runs: in the `Backbone` deployment, inside the router's
own replica when the whole model is served by one deployment (`backbone.placement: router`,
in_process.py), or in a process without Ray (the benchmark's in-process baseline, the tests).
Calls queue into the process's one Batcher (replica/batcher.py), one forward pass per batch runs
in the compute thread, and each call's hidden states go back inside its answer (calls.py says
why not ray.put).

With `backbone.overlap_batches`, a batch's host work runs beside the model: tokenising in a
thread of its own, decoding the heads' outputs (and packing hidden states) in another, the model in
the compute thread, each thread one batch at a time, two batches in flight. The model then waits
for neither the next batch's tokens nor the last batch's decoding. Why: with a cheap model (a small
one on a CPU, any on a GPU) two thirds of a batch's time in one thread was tokenising and decoding
(docs/results.md, "The cheap-model regime").
"""
from __future__ import annotations

import logging
import time

import torch

from model.checkpoint import read_manifest
from service.deploy.stages import BackboneStage, Batching, HeadStage, ModelStage
from service.http.logs import request_scope
from service.pipeline.calls import EncodeCall, EncodeResult, HiddenStatesRef
from service.pipeline.failures import BACKBONE
from service.pipeline.metrics import StageRecorder
from service.replica.batcher import Batcher
from service.replica.compute import ComputeSlot
from service.replica.faults import FaultyBackbone
from service.replica.health import UnhealthyModel
from service.replica.runners import BackboneRunner

log = logging.getLogger("wiyh.service")


def inputs_of(call) -> int:
    # A batch is measured in inputs, not calls: one batch-endpoint call may carry many.
    return len(call.contexts) if isinstance(call, EncodeCall) else len(call.inputs)


def inputs_in(calls: list) -> int:
    return sum(inputs_of(c) for c in calls)


async def self_test(compute: ComputeSlot, test, stage: str) -> None:
    """Serve calls check_health every health_check_period_s; raising makes it replace the replica.

    The canned input runs in the compute thread, behind any running batch, so a compute thread that
    hangs fails the check too (no answer within health_check_timeout_s)."""
    try:
        await compute.run(test)
    except UnhealthyModel as err:
        log.error("%s is unhealthy, asking Serve to replace this replica: %s", stage, err)
        raise


def batcher_for(run, stage: ModelStage, in_flight: int = 1) -> Batcher:
    """The stage's batching settings over `run` (a whole batch of calls -> one result each)."""
    return Batcher(run, stage.batching.max_batch_size, stage.batching.batch_wait_timeout_s, size=inputs_of,
                   in_flight=in_flight)


def set_threads(stage: ModelStage) -> None:
    if stage.torch_threads:
        torch.set_num_threads(stage.torch_threads)


class BackboneBatches:
    """Tokenise + one forward pass per batch of calls (+ the colocated heads on it)."""

    def __init__(self, checkpoint: str, stage: BackboneStage, colocated: dict[str, HeadStage], hidden_dtype: str,
                 metrics: StageRecorder, autocast: str | None = None):
        """`metrics`: deploy/metrics.StageMetrics(BACKBONE) in a Serve replica. `autocast`: a half
        type for the model code on a GPU (default: $WIYH_AUTOCAST, compute.py)."""
        set_threads(stage)
        manifest = read_manifest(checkpoint)
        self.runner = BackboneRunner(checkpoint, manifest, list(colocated), device=stage.device, hidden_dtype=hidden_dtype)
        faults = {name: head.fault for name, head in colocated.items() if head.fault is not None}
        if faults:  # a testing aid: the settings inject failures into some colocated heads
            self.runner = FaultyBackbone(self.runner, faults)
        self.compute = ComputeSlot(stage.torch_threads, BACKBONE, autocast)
        if stage.overlap_batches:
            # One torch thread for the host steps: their tensors are small (compute.py, decoding.py).
            self.tokenise, self.decode = ComputeSlot(1, "tokenise"), ComputeSlot(1, "decode")
            self.batcher = batcher_for(self._encode_batch, stage, in_flight=2)
        else:
            self.tokenise = self.decode = self.compute
            self.batcher = batcher_for(self._encode_batch, stage)
        self.metrics = metrics
        self.calls_served = self.inputs_served = 0
        self.pace = Pace()
        self._last_done = 0.0  # perf_counter() when the last batch was done

    async def encode(self, call: EncodeCall) -> EncodeResult:
        with request_scope(call.request_id):
            return await self.batcher(call)

    async def _encode_batch(self, calls: list[EncodeCall]) -> list[EncodeResult]:
        with request_scope(",".join(c.request_id for c in calls)):
            t0 = time.perf_counter()
            prepared = await self.tokenise.run(self.runner.prepare, calls)
            t1 = time.perf_counter()
            forwarded = await self.compute.run(self.runner.forward, prepared)
            t2 = time.perf_counter()
            encoded = await self.decode.run(self.runner.finish, forwarded)
            t3 = time.perf_counter()
        forward_ms = (t2 - t1) * 1000
        inputs = inputs_in(calls)
        # The time this batch added: since the previous batch was done if they overlapped (batches
        # leave the last step one after the other, at the pace of the whole pipeline, CPU shared
        # between the steps included), else since it started.
        self.pace.record(t3 - max(t0, self._last_done), inputs)
        self._last_done = t3
        results = []
        for call, item in zip(calls, encoded):
            hidden = None
            if item.packed is not None:
                # No ray.put: a reference this replica put and nested in its answer would be owned
                # here, and Ray can lose the router's borrow of it (docs/results.md, "Lost inputs").
                hidden = HiddenStatesRef(ref=None, nbytes=item.packed.nbytes, num_inputs=item.packed.num_inputs)
                self.metrics.hidden_bytes("stored", hidden.nbytes)
            results.append(EncodeResult(
                hidden=hidden, windows_per_input=item.windows_per_input, question_truncated=item.question_truncated,
                colocated=item.colocated, forward_ms=forward_ms, pass_inputs=inputs, payload=item.packed,
            ))
        self.calls_served += len(calls)
        self.inputs_served += inputs
        self.metrics.batch(inputs, forward_ms)
        return results

    def configure(self, batching: Batching) -> None:
        """New batching from the next batch on (reconfigure.py)."""
        self.batcher.configure(batching.max_batch_size, batching.batch_wait_timeout_s)

    def stats(self) -> dict[str, int]:
        """Counters for tests and operators: forward passes vs calls and inputs served, and the
        batch size in force."""
        return {"forward_passes": self.runner.forward_passes, "calls_served": self.calls_served,
                "inputs_served": self.inputs_served, "max_batch_size": self.batcher.max_batch_size}

    async def check_health(self) -> None:
        await self_test(self.compute, self.runner.self_test, BACKBONE)


class Pace:
    """Seconds per input over recent batches, each batch's weight decaying by `decay` per batch
    after it: a batch of 16 counts 16 times a batch of 1, so the lone calls of a quiet spell do not
    make the pace of a busy one look slow."""

    def __init__(self, decay: float = 0.8):
        self.decay = decay
        self._seconds = self._inputs = 0.0

    def record(self, seconds: float, inputs: int) -> None:
        self._seconds = self._seconds * self.decay + seconds
        self._inputs = self._inputs * self.decay + inputs

    def seconds_for(self, inputs: int) -> float | None:
        if self._inputs <= 0:
            return None
        return inputs * self._seconds / self._inputs
