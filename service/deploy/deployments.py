"""The Serve deployments. They orchestrate only: queue calls into batches, hand the batch to a
runner (model code, in a thread so the replica keeps accepting calls while it computes), hand
hidden states on once, and record metrics."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from ray import serve
from ray.serve.handle import DeploymentHandle

from service.deploy.backbone_batches import BackboneBatches, batcher_for, inputs_in, self_test, set_threads
from service.pipeline.calls import EncodeCall, EncodeResult, HeadCall, HeadReply
from service.pipeline.catalog import Catalog
from service.pipeline.failures import BACKBONE, stage_of_head
from service.replica.compute import ComputeSlot
from service.inspector.routes import inspector_routes
from service.http.logs import request_scope
from service.deploy.metrics import RouterMetrics, StageMetrics
from service.replica.payload import PackedHiddenStates
from service.pipeline.predict import Predictor
from service.deploy.liveness import lost_unnoticed
from service.deploy.in_router import InRouterModel
from service.deploy.ray_engine import RayEngine
from service.http.router import create_api
from service.replica.faults import FaultyHead
from service.replica.runners import HeadRunner
from service.deploy.reconfigure import InPlaceConfig
from service.deploy.serve_logs import write_through_serve
from service.deploy.settings import ServiceSettings
from service.deploy.stages import HeadStage, ModelStage
from model.checkpoint import read_manifest


def replica_identity() -> dict[str, int | str]:
    """Serve's id of this replica and its process: an in-place update keeps both."""
    return {"replica": serve.get_replica_context().replica_tag, "pid": os.getpid()}


@dataclass
class _FetchedCall:
    """A head call with the hidden states it reads (Ray resolved them from the object store)."""

    call: HeadCall
    packed: PackedHiddenStates

    @property
    def inputs(self) -> list[int]:
        return self.call.inputs


@serve.deployment
class Backbone:
    """Tokenise + one forward pass per batch (backbone_batches.py); each call's hidden states go
    back inside its answer, so the router, the caller, owns them and hands that answer to the heads
    without reading it (RayEngine): one copy in the object store, read zero-copy by every head."""

    def __init__(self, checkpoint: str, stage: ModelStage, colocated: dict[str, HeadStage], hidden_dtype: str):
        write_through_serve()
        self.batches = BackboneBatches(checkpoint, stage, colocated, hidden_dtype, StageMetrics(BACKBONE))
        self._in_place = InPlaceConfig(BACKBONE, self.batches.configure)

    async def encode(self, call: EncodeCall) -> EncodeResult:
        return await self.batches.encode(call)

    def stats(self) -> dict[str, int | str]:
        """Counters for tests and operators: forward passes vs calls served, the batch size in
        force, how many in-place updates the replica took, and which replica and process it is."""
        return {**self.batches.stats(), "updates": self._in_place.updates, **replica_identity()}

    def reconfigure(self, user_config: dict) -> None:
        """Serve calls it with the deployment's user_config when the replica starts and on an
        in-place update (reconfigure.py)."""
        self._in_place(user_config)

    def ready(self) -> bool:
        return True

    async def check_health(self) -> None:
        await self.batches.check_health()


@serve.deployment
class Head:
    """One head from its own file; decodes a whole batch of calls in one pass."""

    def __init__(self, checkpoint: str, name: str, stage: HeadStage):
        write_through_serve()
        set_threads(stage)
        manifest = read_manifest(checkpoint)
        self.name = name
        self.runner = HeadRunner.load(checkpoint, manifest, name, device=stage.device)
        if stage.fault is not None:  # a testing aid: the settings inject failures into this head
            self.runner = FaultyHead(self.runner, stage.fault)
        self.batcher = batcher_for(self._predict_batch, stage)
        self._in_place = InPlaceConfig(stage_of_head(name), lambda b: self.batcher.configure(b.max_batch_size,
                                                                                             b.batch_wait_timeout_s))
        self.compute = ComputeSlot(stage.torch_threads, stage_of_head(name))
        self.metrics = StageMetrics(stage_of_head(name))
        self.calls_served = 0
        self.compute_s = 0.0

    async def predict(self, call: HeadCall, encoded: EncodeResult) -> HeadReply:
        """`encoded`: the backbone's answer with the hidden states (RayEngine passes the router's
        reference to it as a top-level argument, so Ray reads it from the object store before this
        runs, and when it is lost, with the node that stored it, only this call fails)."""
        with request_scope(call.request_id):
            fetched = _FetchedCall(call, encoded.payload)
            self.metrics.hidden_bytes("read", call.hidden.nbytes)
            return await self.batcher(fetched)

    async def _predict_batch(self, calls: list[_FetchedCall]) -> list[HeadReply]:
        started = time.perf_counter()
        work = [(c.packed, c.call.inputs, c.call.options) for c in calls]
        ids = [c.call.request_id for c in calls]
        with request_scope(",".join(ids)):
            replies = await self.compute.run(self.runner.run_packed, work, ids)
        done = time.perf_counter()
        self.calls_served += len(calls)
        self.compute_s += done - started
        self.metrics.batch(inputs_in(calls), (done - started) * 1000)
        return replies

    def stats(self) -> dict[str, float | str]:
        """Counters for tests and operators: calls, batches, where a batch's time went, the batch
        size in force, in-place updates, and which replica and process it is."""
        return {"calls_served": self.calls_served, "batches": self.batcher.batches,
                "compute_ms_total": round(self.compute_s * 1000, 3), "max_batch_size": self.batcher.max_batch_size,
                "updates": self._in_place.updates, **replica_identity()}

    def reconfigure(self, user_config: dict) -> None:
        """As Backbone.reconfigure."""
        self._in_place(user_config)

    def ready(self) -> bool:
        return True

    async def check_health(self) -> None:
        await self_test(self.compute, self.runner.self_test, stage_of_head(self.name))


@serve.deployment
@serve.ingress()
class Router:
    """The ingress: validates, plans, fans out, assembles. Holds handles, never hidden states; or,
    with `backbone` None (backbone.placement: router), runs the backbone and the colocated heads
    of `checkpoint` in its own replica (in_process.py)."""

    def __init__(self, backbone: DeploymentHandle | None, heads: dict[str, DeploymentHandle], catalog: Catalog,
                 settings: ServiceSettings, checkpoint: str | None = None, colocated: dict[str, HeadStage] | None = None):
        write_through_serve()
        metrics = RouterMetrics()
        self._model: InRouterModel | None = None
        if backbone is None:
            self._model = InRouterModel(checkpoint or str(settings.checkpoint_path()), catalog, settings, colocated or {}, metrics)
            predictor = self._model.predictor
        else:
            app = serve.get_replica_context().app_name
            engine = RayEngine(backbone, heads, retry_after_s=settings.router.retry_after_s,
                               lost_unnoticed=lambda deployment: lost_unnoticed(app, deployment))
            predictor = Predictor(engine, catalog, settings.timeouts, metrics)
        # Serve's proxy already echoes x-request-id on every response, hence echo_request_id=False.
        self._api = create_api(predictor, catalog, settings.limits, settings.router.retry_after_s, metrics,
                               auth=settings.auth, log_inputs=settings.logging.log_inputs, echo_request_id=False)
        self._api.include_router(inspector_routes(settings.checkpoint_path(), catalog))  # GET /inspect, /v1/examples
        if self._model is not None:
            self._model.answers = self._api.state.answers

    def __serve_build_asgi_app__(self):
        return self._api

    async def reconfigure(self, user_config: dict) -> None:
        """The in-router model's batching and checkpoint (in_router.py); a router without the
        backbone has no user_config, so Serve never calls this."""
        if self._model is not None:
            await self._model.reconfigure(user_config)

    def stats(self) -> dict[str, int | str]:
        """The in-router model's counters (as Backbone.stats, with the checkpoint it answers with
        and any it refused); empty when the backbone is its own deployment."""
        if self._model is None:
            return {}
        return {**self._model.stats(), **replica_identity()}

    async def check_health(self) -> None:
        if self._model is not None:  # the model runs here: Serve replaces the replica when it breaks
            await self._model.check_health()
