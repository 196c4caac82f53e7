"""The Serve deployments. They orchestrate only: queue calls into batches, hand the batch to a
runner (model code, in a thread so the replica keeps accepting calls while it computes), store
hidden states once, and record metrics."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import ray
import torch
from ray import serve
from ray.serve.handle import DeploymentHandle

from service.pipeline.calls import EncodeCall, EncodeResult, HeadCall, HeadReply, HiddenStatesRef
from service.pipeline.catalog import Catalog
from service.pipeline.failures import BACKBONE, stage_of_head
from service.pipeline.hostcost import reading as host_cost_reading
from service.replica.compute import ComputeSlot
from service.replica.health import UnhealthyModel
from service.inspector.routes import inspector_routes
from service.http.logs import request_scope
from service.deploy.metrics import RouterMetrics, StageMetrics
from service.replica.payload import PackedHiddenStates
from service.pipeline.predict import Predictor
from service.deploy.held_inputs import HeldInputs, hold_for
from service.deploy.liveness import lost_unnoticed
from service.deploy.ray_engine import RayEngine
from service.http.router import create_api
from service.replica.runners import BackboneRunner, HeadRunner
from service.deploy.settings import ServiceSettings, Timeouts
from service.deploy.stages import HeadStage, ModelStage
from model.checkpoint import read_manifest

log = logging.getLogger("wiyh.service")


@dataclass
class _FetchedCall:
    """A head call with its hidden states already read from the object store."""

    call: HeadCall
    packed: PackedHiddenStates
    fetch_s: float

    @property
    def inputs(self) -> list[int]:
        return self.call.inputs


def _inputs_in(calls: list) -> int:
    # A batch is measured in inputs, not calls: one batch-endpoint call may carry many.
    return sum(len(c.contexts) if isinstance(c, EncodeCall) else len(c.inputs) for c in calls)


async def _self_test(compute: ComputeSlot, self_test, stage: str) -> None:
    """Serve calls check_health every health_check_period_s; raising makes it replace the replica.

    The canned input runs in the compute thread, behind any running batch, so a compute thread that
    hangs fails the check too (no answer within health_check_timeout_s)."""
    try:
        await compute.run(self_test)
    except UnhealthyModel as err:
        log.error("%s is unhealthy, asking Serve to replace this replica: %s", stage, err)
        raise


def _configure_batching(batch_method, stage: ModelStage) -> None:
    batch_method.set_max_batch_size(stage.batching.max_batch_size)
    batch_method.set_batch_wait_timeout_s(stage.batching.batch_wait_timeout_s)


def _set_threads(stage: ModelStage) -> None:
    if stage.torch_threads:
        torch.set_num_threads(stage.torch_threads)


@serve.deployment
class Backbone:
    """Tokenise + one forward pass per batch; stores each call's hidden states once (ray.put) and
    returns only the reference, so heads read them straight from the object store."""

    def __init__(self, checkpoint: str, stage: ModelStage, colocated: dict[str, HeadStage], hidden_dtype: str,
                 hold_inputs_s: float = hold_for(Timeouts())):
        """`hold_inputs_s`: how long this replica keeps its own reference to each stored input
        (held_inputs.py: Ray can lose the router's borrow of it); app.py derives it from the
        configured timeouts."""
        _set_threads(stage)
        manifest = read_manifest(checkpoint)
        self.runner = BackboneRunner(checkpoint, manifest, colocated, device=stage.device, hidden_dtype=hidden_dtype)
        _configure_batching(self._encode_batch, stage)
        self.compute = ComputeSlot(stage.torch_threads, BACKBONE)
        self.metrics = StageMetrics(BACKBONE)
        self.held = HeldInputs(hold_inputs_s)
        self.calls_served = 0

    async def encode(self, call: EncodeCall) -> EncodeResult:
        with request_scope(call.request_id):
            await self.compute.wait_idle()
            return await self._encode_batch(call)

    @serve.batch(batch_size_fn=_inputs_in)
    async def _encode_batch(self, calls: list[EncodeCall]) -> list[EncodeResult]:
        started = time.perf_counter()
        with request_scope(",".join(c.request_id for c in calls)):
            encoded = await self.compute.run(self.runner.run, calls)
        forward_ms = (time.perf_counter() - started) * 1000
        results = []
        for call, item in zip(calls, encoded):
            hidden = None
            if item.packed is not None:
                ref = ray.put(item.packed)
                self.held.hold(ref)
                hidden = HiddenStatesRef(ref=ref, nbytes=item.packed.nbytes, num_inputs=item.packed.num_inputs)
                self.metrics.hidden_bytes("stored", hidden.nbytes)
            results.append(EncodeResult(
                hidden=hidden, windows_per_input=item.windows_per_input, question_truncated=item.question_truncated,
                colocated=item.colocated, forward_ms=forward_ms, pass_inputs=_inputs_in(calls),
            ))
        self.calls_served += len(calls)
        self.metrics.batch(_inputs_in(calls), forward_ms)
        return results

    def stats(self) -> dict[str, int]:
        """Counters for tests and operators: forward passes vs calls served, stored inputs held."""
        return {"forward_passes": self.runner.forward_passes, "calls_served": self.calls_served,
                "inputs_held": len(self.held)}

    def host_cost(self) -> dict:
        """This replica's CPU time by stage so far (service/pipeline/hostcost.py; the benchmark reads it)."""
        return host_cost_reading()

    def ready(self) -> bool:
        return True

    async def check_health(self) -> None:
        self.held.release_expired()  # an idle replica lets go of its last inputs too
        await _self_test(self.compute, self.runner.self_test, BACKBONE)


@serve.deployment
class Head:
    """One head from its own file; decodes a whole batch of calls in one pass."""

    def __init__(self, checkpoint: str, name: str, stage: HeadStage):
        _set_threads(stage)
        manifest = read_manifest(checkpoint)
        self.name = name
        self.runner = HeadRunner.load(checkpoint, manifest, name, device=stage.device, fault=stage.fault)
        _configure_batching(self._predict_batch, stage)
        self.compute = ComputeSlot(stage.torch_threads, stage_of_head(name))
        self.metrics = StageMetrics(stage_of_head(name))
        self.calls_served = self.batches = 0
        self.fetch_s = self.compute_s = 0.0

    async def predict(self, call: HeadCall) -> HeadReply:
        # Each call reads its own hidden states before it joins a batch: when they are lost (the
        # backbone replica that stored them died) only this call fails, not its batch neighbours.
        with request_scope(call.request_id):
            started = time.perf_counter()
            packed = await call.hidden.ref
            fetched = _FetchedCall(call, packed, time.perf_counter() - started)
            self.metrics.hidden_bytes("read", call.hidden.nbytes)
            await self.compute.wait_idle()
            return await self._predict_batch(fetched)

    @serve.batch(batch_size_fn=_inputs_in)
    async def _predict_batch(self, calls: list[_FetchedCall]) -> list[HeadReply]:
        started = time.perf_counter()
        work = [(c.packed, c.call.inputs, c.call.options) for c in calls]
        ids = [c.call.request_id for c in calls]
        with request_scope(",".join(ids)):
            replies = await self.compute.run(self.runner.run_packed, work, ids)
        done = time.perf_counter()
        self.calls_served += len(calls)
        self.batches += 1
        self.fetch_s += sum(c.fetch_s for c in calls)
        self.compute_s += done - started
        self.metrics.batch(_inputs_in(calls), (done - started) * 1000)
        return replies

    def stats(self) -> dict[str, float]:
        """Counters for tests and operators: calls, batches, and where a batch's time went."""
        return {"calls_served": self.calls_served, "batches": self.batches,
                "fetch_ms_total": round(self.fetch_s * 1000, 3), "compute_ms_total": round(self.compute_s * 1000, 3)}

    def host_cost(self) -> dict:
        """This replica's CPU time by stage so far (service/pipeline/hostcost.py; the benchmark reads it)."""
        return host_cost_reading()

    def ready(self) -> bool:
        return True

    async def check_health(self) -> None:
        await _self_test(self.compute, self.runner.self_test, stage_of_head(self.name))


@serve.deployment
@serve.ingress()
class Router:
    """The ingress: validates, plans, fans out, assembles. Holds handles, never hidden states."""

    def __init__(self, backbone: DeploymentHandle, heads: dict[str, DeploymentHandle], catalog: Catalog,
                 settings: ServiceSettings):
        metrics = RouterMetrics()
        app = serve.get_replica_context().app_name
        engine = RayEngine(backbone, heads, retry_after_s=settings.router.retry_after_s,
                           lost_unnoticed=lambda deployment: lost_unnoticed(app, deployment))
        predictor = Predictor(engine, catalog, settings.timeouts, metrics)
        # Serve's proxy already echoes x-request-id on every response, hence echo_request_id=False.
        self._api = create_api(predictor, catalog, settings.limits, settings.router.retry_after_s, metrics,
                               auth=settings.auth, log_inputs=settings.logging.log_inputs, echo_request_id=False)
        self._api.include_router(inspector_routes(settings.checkpoint_path(), catalog))  # GET /inspect, /v1/examples

    def __serve_build_asgi_app__(self):
        return self._api

    def host_cost(self) -> dict:
        """This replica's CPU time by stage so far (service/pipeline/hostcost.py; the benchmark reads it)."""
        return host_cost_reading()
