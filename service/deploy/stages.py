"""How each deployment runs (router, backbone, heads): replicas, resources, queues, batching,
health checks, a head's placement. Part of the `args:` block (settings.py); every rule a person
can break fails at deploy time with the key and the fix."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

from service.deploy.serve_logs import LogEncoding, logging_config
from service.pipeline.limits import Placement
from service.replica.faults import Fault



class _Strict(BaseModel):
    # A misspelt key is an error, not a silently ignored default.
    model_config = ConfigDict(extra="forbid")


class Batching(_Strict):
    """Batching of one stage (service/replica/batcher.py): inputs per batch, and how long a lone call
    waits for company."""

    max_batch_size: int = Field(16, ge=1, le=1024)
    batch_wait_timeout_s: float = Field(0.005, ge=0, le=1)


class RunConfig(_Strict):
    """A model deployment's Serve `user_config`: what a running replica changes in place
    (reconfigure.py). None: keep what it has."""

    batching: Batching | None = None


class RouterRunConfig(RunConfig):
    """The `router` deployment's user_config when it runs the whole model (`backbone.placement:
    router`): its backbone's batching, and the checkpoint it answers with, which a running replica
    swaps in place (checkpoint_swap.py). None: the application's `checkpoint:`."""

    checkpoint: str | None = None


class Autoscaling(_Strict):
    """Ray Serve's autoscaling_config, restricted to the keys we set (names as Serve spells them)."""

    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(1, ge=1)
    initial_replicas: int | None = Field(None, ge=0)
    target_ongoing_requests: float = Field(8, gt=0)
    upscale_delay_s: float = Field(5, ge=0)
    downscale_delay_s: float = Field(60, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> "Autoscaling":
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas {self.min_replicas} is above max_replicas {self.max_replicas}; lower min_replicas or raise max_replicas")
        if self.initial_replicas is not None and not self.min_replicas <= self.initial_replicas <= self.max_replicas:
            raise ValueError(f"initial_replicas {self.initial_replicas} must lie in [min_replicas {self.min_replicas}, max_replicas {self.max_replicas}]")
        return self


class Stage(_Strict):
    """How one deployment runs: resources, replicas, queue bounds."""

    # Ray reserves 1 CPU per replica unless told otherwise; on a small machine that leaves most
    # replicas unscheduled for ever, hence a fraction by default.
    num_cpus: float = Field(0.1, gt=0)
    num_gpus: float = Field(0, ge=0)
    num_replicas: int | None = Field(None, ge=1)
    autoscaling: Autoscaling | None = None
    max_ongoing_requests: int = Field(32, ge=1)
    # Requests waiting beyond this are refused at once (503 + Retry-After) instead of queueing.
    max_queued_requests: int = Field(64, ge=1)
    # Serve logs one line per call when on; for internal stages that doubles the log volume of
    # every request for little gain, so only the router logs by default.
    access_log: bool = False
    # Serve calls the replica's check_health (a canned input through the model, NaN/inf is a
    # failure) every period; a replica that raises or stays silent past the timeout is replaced.
    # The period bounds how long a dead or broken replica stays in place (Serve's default: 10 s).
    # The check waits behind the running batch, so the timeout must exceed the longest batch:
    # past it, the compute thread is taken for hung and the replica replaced.
    health_check_period_s: float = Field(5.0, gt=0, le=600)
    health_check_timeout_s: float = Field(60.0, gt=0, le=600)
    # Custom Ray resources each replica needs, e.g. {"gpu_node": 0.01} to keep it on the nodes that
    # offer that resource.
    resources: dict[str, PositiveFloat] = Field(default_factory=dict)
    # At most this many replicas of the stage on one node, so that losing a node leaves the others.
    max_replicas_per_node: int | None = Field(None, ge=1, le=100)

    @model_validator(mode="after")
    def _replicas_or_autoscaling(self) -> "Stage":
        if self.num_replicas is not None and self.autoscaling is not None:
            raise ValueError("set either num_replicas or autoscaling, not both (Ray Serve refuses the pair)")
        return self

    def serve_options(self, name: str, log_encoding: LogEncoding = "TEXT") -> dict[str, Any]:
        """Keyword arguments of Deployment.options() for this stage."""
        options: dict[str, Any] = {
            "name": name,
            "ray_actor_options": {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus,
                                  **({"resources": dict(self.resources)} if self.resources else {})},
            "max_ongoing_requests": self.max_ongoing_requests,
            "max_queued_requests": self.max_queued_requests,
            "logging_config": logging_config(log_encoding, self.access_log),
            "health_check_period_s": self.health_check_period_s,
            "health_check_timeout_s": self.health_check_timeout_s,
        }
        if self.max_replicas_per_node is not None:
            options["max_replicas_per_node"] = self.max_replicas_per_node
        if self.autoscaling is not None:
            options["autoscaling_config"] = self.autoscaling.model_dump(exclude_none=True)
        else:
            options["num_replicas"] = self.num_replicas or 1
        return options

    @property
    def device(self) -> str:
        # A stage that asks for a GPU fraction runs on it; otherwise it runs on the CPU.
        return "cuda" if self.num_gpus > 0 else "cpu"


class ModelStage(Stage):
    """A stage that runs model code: batched, optionally with its own torch thread count."""

    batching: Batching = Field(default_factory=Batching)
    # torch intra-op threads; None keeps Ray's default (OMP_NUM_THREADS follows num_cpus, min 1).
    torch_threads: int | None = Field(None, ge=1)

    def serve_options(self, name: str, log_encoding: LogEncoding = "TEXT") -> dict[str, Any]:
        # the batching as user_config: a `deployments:` entry of the Serve config changes it in place
        return {**super().serve_options(name, log_encoding), "user_config": RunConfig(batching=self.batching).model_dump()}

    @model_validator(mode="after")
    def _batches_can_fill(self) -> "ModelStage":
        if self.max_ongoing_requests < self.batching.max_batch_size:
            raise ValueError(
                f"max_ongoing_requests {self.max_ongoing_requests} is below batching.max_batch_size "
                f"{self.batching.max_batch_size}, so a batch can never fill; raise max_ongoing_requests "
                f"to at least {self.batching.max_batch_size}"
            )
        return self


class BackboneStage(ModelStage):
    # replica: its own deployment, which the router calls over a handle (the default);
    # router: inside the router's replica, so the whole model is one deployment. Only with every
    # head colocated; no handle hop, no second deployment (in_process.py says what it saves). The
    # router's replicas then take this stage's num_cpus / num_gpus / resources and health checks.
    placement: Literal["replica", "router"] = "replica"
    # Tokenise the next batch and decode the last one in threads of their own while a batch is in
    # the model (backbone_batches.py): two batches in flight. Off: one thread does all three.
    # Off by default: on a 2-core CPU it lifted a 2 ms-an-input model's in-process throughput by a
    # quarter or more and cost MiniLM a sixth (docs/results.md, "The cheap-model regime").
    overlap_batches: bool = False
    # With the backbone in the router (placement: router): refuse a call at once (503 +
    # Retry-After) when the work ahead of it, at the pace of recent batches, would take longer than
    # this; max_queued_requests then is only a ceiling. One bound in seconds holds for a model of
    # 2 ms an input and of 100 alike, where a count sized for one sheds load the other could serve
    # in time. None: the count alone. A backbone deployment (placement: replica) has Serve's queue,
    # bounded by max_queued_requests only, so that switching placement needs no other edit.
    max_queue_wait_s: float | None = Field(None, gt=0, le=600)


class HeadStage(ModelStage):
    # replica: its own deployment, fed the hidden states through the object store (the default);
    # colocated: runs inside the backbone replica, nothing moves (best for a cheap linear head).
    placement: Placement = "replica"
    fault: Fault | None = None


class RouterStage(Stage):
    max_ongoing_requests: int = Field(64, ge=1)
    max_queued_requests: int = Field(64, ge=1)
    # Sent as Retry-After with every 503 for overload, by Serve's proxy and by the router.
    retry_after_s: int = Field(1, ge=0, le=3600)
    access_log: bool = True
    # proxy: clients reach the router replicas through Serve's HTTP proxy (port 8000), one hop more.
    # direct: the router replica serves HTTP itself on a port Serve's controller gives it (Serve's
    # direct ingress; the proxy keeps working too): no proxy hop, about 18 ms of CPU per request less
    # on a 2-core CPU (docs/results.md, Speed options). Needs the cluster started with it, and one
    # router replica per node unless HAProxy spreads clients over them (settings.ingress_problems).
    ingress: Literal["proxy", "direct"] = "proxy"

    @model_validator(mode="after")
    def _router_needs_no_gpu(self) -> "RouterStage":
        if self.num_gpus:
            raise ValueError(f"num_gpus {self.num_gpus}: the router runs no model; set num_gpus: 0")
        return self
