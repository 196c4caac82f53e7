"""The service's own deploy settings: the `args:` block of deploy/serve_config*.yaml, as pydantic.

Everything a person can get wrong here fails at deploy time with a message that names the key and
says what to change (`heads.overrides.span.max_ongoing_requests: 4 is below batching.max_batch_size
8; raise it ...`), instead of a replica that never schedules or batches that never fill.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import Field, ValidationError, model_validator

from service.deploy.serve_logs import LogEncoding
from service.deploy.cluster_env import DIRECT_INGRESS_ENV, HA_PROXY_ENV, direct_ingress_enabled, env_problems
from service.deploy.stages import BackboneStage, HeadStage, RouterStage, RunConfig, _Strict
from service.http.auth import Auth
from service.pipeline.limits import Limits, Timeouts

CHECKPOINT_ENV = "WIYH_CHECKPOINT"
API_KEYS_ENV = "WIYH_API_KEYS"  # comma-separated; replaces auth.api_keys when set
DEFAULT_CHECKPOINT = "checkpoints/quick"

class ServiceConfigError(ValueError):
    """Settings that must not be deployed; the message lists every problem and the fix."""


class Heads(_Strict):
    """Settings of every head: `default`, then `overrides.<head>` merged over it key by key."""

    default: dict[str, Any] = Field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _each_merge_is_valid(self) -> "Heads":
        problems = []
        for label, raw in [("default", self.default), *((f"overrides.{n}", deep_merge(self.default, o)) for n, o in self.overrides.items())]:
            try:
                HeadStage.model_validate(raw)
            except ValidationError as err:
                problems.extend(_describe(e, f"heads.{label}") for e in err.errors())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def for_head(self, name: str) -> HeadStage:
        return HeadStage.model_validate(deep_merge(self.default, self.overrides.get(name, {})))


class LogSettings(_Strict):
    # Off: no question, context or text reaches the logs, and a logged exception keeps its type and
    # stack but not its message (which may quote the input). On: tracebacks are logged whole.
    log_inputs: bool = False
    # How every replica's Serve log is written (serve_logs.py): TEXT, or JSON, one object per line
    # with the deployment, the replica and the request id, for a log collector to index.
    encoding: LogEncoding = "TEXT"


class ServiceSettings(_Strict):
    checkpoint: str = DEFAULT_CHECKPOINT
    # Hidden states as stored in the object store. auto: float16 when the backbone runs on a GPU
    # (halves the bytes a head copies back to its own GPU), float32 on a CPU (no conversion cost;
    # on one node the object store is shared memory, so the bytes are mapped, not copied).
    hidden_dtype: Literal["auto", "float32", "float16"] = "auto"
    router: RouterStage = Field(default_factory=RouterStage)
    backbone: BackboneStage = Field(default_factory=BackboneStage)
    heads: Heads = Field(default_factory=Heads)
    limits: Limits = Field(default_factory=Limits)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    auth: Auth = Field(default_factory=Auth)
    logging: LogSettings = Field(default_factory=LogSettings)
    # An arithmetic explanation is reported as consistent only when the checkpoint's measured chance
    # rate (how often the same search explains a wrong number) is below this.
    explanation_chance_bound: float = Field(0.05, gt=0, le=1)

    @model_validator(mode="after")
    def _batch_fits_backbone(self) -> "ServiceSettings":
        # The batch endpoint sends all its inputs to the backbone as one item; Serve refuses an
        # item bigger than the batch it would go in.
        if self.limits.max_batch_items > self.backbone.batching.max_batch_size:
            raise ValueError(
                f"limits.max_batch_items {self.limits.max_batch_items} exceeds backbone.batching.max_batch_size "
                f"{self.backbone.batching.max_batch_size}; lower the first or raise the second"
            )
        return self

    @model_validator(mode="after")
    def _router_batches_can_fill(self) -> "ServiceSettings":
        if self.backbone.placement == "router" and self.router.max_ongoing_requests < self.backbone.batching.max_batch_size:
            raise ValueError(
                f"backbone.placement: router runs the backbone's batches in the router replica, whose "
                f"router.max_ongoing_requests {self.router.max_ongoing_requests} is below backbone.batching.max_batch_size "
                f"{self.backbone.batching.max_batch_size}, so a batch can never fill; raise router.max_ongoing_requests "
                f"to at least {self.backbone.batching.max_batch_size}"
            )
        return self

    @model_validator(mode="after")
    def _queue_wait_fits_the_timeout(self) -> "ServiceSettings":
        wait = self.backbone.max_queue_wait_s
        if wait is not None and wait >= self.timeouts.backbone_s:
            raise ValueError(
                f"backbone.max_queue_wait_s {wait:g} is not below timeouts.backbone_s {self.timeouts.backbone_s:g}: a call "
                f"let in to wait that long times out before its answer; lower max_queue_wait_s (about half the timeout)"
            )
        return self

    def in_router_options(self) -> dict[str, Any]:
        """Deployment.options() of the one deployment that serves everything (backbone.placement:
        router): the router's replicas, queues and autoscaling, with the model's resources and
        health checks (the check runs the model, behind its running batch)."""
        options = self.router.serve_options("router", self.logging.encoding)
        backbone = self.backbone
        options["ray_actor_options"] = {
            "num_cpus": self.router.num_cpus + backbone.num_cpus, "num_gpus": backbone.num_gpus,
            **({"resources": {**self.router.resources, **backbone.resources}} if self.router.resources or backbone.resources else {}),
        }
        options["user_config"] = RunConfig(batching=backbone.batching).model_dump()  # its batcher runs here
        options["health_check_period_s"] = backbone.health_check_period_s
        options["health_check_timeout_s"] = backbone.health_check_timeout_s
        return options

    @model_validator(mode="after")
    def _batch_fits_heads(self) -> "ServiceSettings":
        for label, raw in [("default", self.heads.default), *((f"overrides.{n}", deep_merge(self.heads.default, o))
                                                             for n, o in self.heads.overrides.items())]:
            size = HeadStage.model_validate(raw).batching.max_batch_size
            if self.limits.max_batch_items > size:
                raise ValueError(
                    f"limits.max_batch_items {self.limits.max_batch_items} exceeds heads.{label}.batching.max_batch_size "
                    f"{size}: a head reads a whole batch request at once; lower the first or raise the second"
                )
        return self

    def resolved_hidden_dtype(self) -> str:
        if self.hidden_dtype != "auto":
            return self.hidden_dtype
        return "float16" if self.backbone.device == "cuda" else "float32"

    def head_stages(self, head_names: list[str]) -> dict[str, HeadStage]:
        """Each head's merged settings; an override for a head the checkpoint lacks is an error."""
        unknown = sorted(set(self.heads.overrides) - set(head_names))
        if unknown:
            raise ServiceConfigError(
                f"heads.overrides names {unknown}, which the checkpoint does not have; its heads are {sorted(head_names)}"
            )
        return {name: self.heads.for_head(name) for name in head_names}

    def checkpoint_path(self) -> Path:
        return Path(self.checkpoint).expanduser().resolve()


def load_settings(args: dict[str, Any] | None, environ: Mapping[str, str] | None = None) -> ServiceSettings:
    """Settings from the config's `args:`; $WIYH_CHECKPOINT, when set, replaces `checkpoint`, and
    $WIYH_API_KEYS (comma-separated) replaces `auth.api_keys` (keys stay out of the YAML)."""
    environ = os.environ if environ is None else environ
    raw = dict(args or {})
    if environ.get(CHECKPOINT_ENV):
        raw["checkpoint"] = environ[CHECKPOINT_ENV]
    if environ.get(API_KEYS_ENV, "").strip():
        keys = [k.strip() for k in environ[API_KEYS_ENV].split(",") if k.strip()]
        raw["auth"] = {**(raw.get("auth") or {}), "api_keys": keys}
    try:
        settings = ServiceSettings.model_validate(raw)
    except ValidationError as err:
        lines = [f"  {_describe(e)}" for e in err.errors()]
        raise ServiceConfigError(
            "the service settings (applications[].args of the Serve config) are invalid:\n" + "\n".join(lines)
        ) from None
    problems = env_problems(environ) + ingress_problems(settings, environ)
    if problems:
        raise ServiceConfigError("the service settings (applications[].args of the Serve config) are invalid:\n"
                                 + "\n".join(f"  {p}" for p in problems))
    return settings


def ingress_problems(settings: ServiceSettings, environ: Mapping[str, str]) -> list[str]:
    """What keeps `router.ingress: direct` from working in a process with `environ`: the app is built
    in the cluster's environment (`serve deploy`; `serve run` builds in its own, which its local
    cluster inherits), so that is where Serve's cluster-wide direct-ingress flag is read."""
    router = settings.router
    if router.ingress != "direct":
        return []
    problems = []
    if not direct_ingress_enabled(environ):
        problems.append(
            f"router.ingress: direct needs Serve's direct ingress, which this cluster was not started with: set "
            f"{DIRECT_INGRESS_ENV}=1 in the environment of `ray start` on every node (deploy/kuberay/rayservice.yaml: the "
            f"pods' env), or set router.ingress: proxy"
        )
    one_per_node = router.max_replicas_per_node == 1 or (router.autoscaling is None and (router.num_replicas or 1) == 1)
    if environ.get(HA_PROXY_ENV, "0") != "1" and not one_per_node:
        problems.append(
            "router.ingress: direct without HAProxy: each router replica listens on its own port, and a client that "
            "knows one port reaches one replica; set router.max_replicas_per_node: 1 (one replica, one port per node) "
            f"or a fixed router.num_replicas: 1, or put HAProxy in front ({HA_PROXY_ENV}=1)"
        )
    return problems


def _describe(error: Any, prefix: str = "") -> str:
    """`path.to.key: what is wrong and what to do`, without pydantic's "Value error, " noise."""
    path = ".".join(p for p in (prefix, ".".join(str(p) for p in error["loc"])) if p)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        message = "unknown key; remove it or check its spelling (service/deploy/settings.py and stages.py list the keys)"
    if not path or message.startswith(path):
        return message
    return f"{path}: {message}"


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged
