"""The service's own deploy settings: the `args:` block of deploy/serve_config*.yaml, as pydantic.

Everything a person can get wrong here fails at deploy time with a message that names the key and
says what to change (`heads.overrides.span.max_ongoing_requests: 4 is below batching.max_batch_size
8; raise it ...`), instead of a replica that never schedules or batches that never fill.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, SecretStr, ValidationError, field_validator, model_validator

CHECKPOINT_ENV = "WIYH_CHECKPOINT"
API_KEYS_ENV = "WIYH_API_KEYS"  # comma-separated; replaces auth.api_keys when set
MIN_API_KEY_CHARS = 16
DEFAULT_CHECKPOINT = "checkpoints/quick"

Placement = Literal["replica", "colocated"]


class ServiceConfigError(ValueError):
    """Settings that must not be deployed; the message lists every problem and the fix."""


class _Strict(BaseModel):
    # A misspelt key is an error, not a silently ignored default.
    model_config = ConfigDict(extra="forbid")


class Batching(_Strict):
    """@serve.batch settings of one stage."""

    max_batch_size: int = Field(16, ge=1, le=1024)
    batch_wait_timeout_s: float = Field(0.005, ge=0, le=1)


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

    def serve_options(self, name: str) -> dict[str, Any]:
        """Keyword arguments of Deployment.options() for this stage."""
        options: dict[str, Any] = {
            "name": name,
            "ray_actor_options": {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus,
                                  **({"resources": dict(self.resources)} if self.resources else {})},
            "max_ongoing_requests": self.max_ongoing_requests,
            "max_queued_requests": self.max_queued_requests,
            "logging_config": {"enable_access_log": self.access_log},
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

    @model_validator(mode="after")
    def _batches_can_fill(self) -> "ModelStage":
        if self.max_ongoing_requests < self.batching.max_batch_size:
            raise ValueError(
                f"max_ongoing_requests {self.max_ongoing_requests} is below batching.max_batch_size "
                f"{self.batching.max_batch_size}, so a batch can never fill; raise max_ongoing_requests "
                f"to at least {self.batching.max_batch_size}"
            )
        return self


class Fault(_Strict):
    """Testing aid: make a head fail on purpose, to exercise degraded answers end to end.

    Fires only for calls whose question or context contains `trigger`, so one deployed app serves
    both the healthy and the failing cases. Never set it in a production config."""

    mode: Literal["raise", "hang"]
    trigger: str = Field(min_length=1)
    hang_s: float = Field(5.0, gt=0, le=60)


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

    @model_validator(mode="after")
    def _router_needs_no_gpu(self) -> "RouterStage":
        if self.num_gpus:
            raise ValueError(f"num_gpus {self.num_gpus}: the router runs no model; set num_gpus: 0")
        return self


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


class Limits(_Strict):
    max_body_bytes: int = Field(1 << 20, ge=1024)
    max_batch_items: int = Field(16, ge=1)
    max_field_chars: int = Field(20_000, ge=16)
    max_new_tokens: int = Field(64, ge=1, le=1024)


class Timeouts(_Strict):
    """Every handle call is bounded: a stage that does not answer in time is an error, not a hang."""

    backbone_s: float = Field(10.0, gt=0)
    target_head_s: float = Field(10.0, gt=0)
    non_target_head_s: float = Field(5.0, gt=0)
    ready_s: float = Field(2.0, gt=0)


class Auth(_Strict):
    """API keys a client must send (Authorization: Bearer <key> or X-API-Key); none: the API is
    open, e.g. behind a gateway that authenticates. Health endpoints and /docs stay open."""

    api_keys: list[SecretStr] = Field(default_factory=list)

    @field_validator("api_keys")
    @classmethod
    def _strong_enough(cls, keys: list[SecretStr]) -> list[SecretStr]:
        # The message names the key by position, never by value: settings errors end up in logs.
        for i, key in enumerate(keys):
            value = key.get_secret_value()
            if len(value) < MIN_API_KEY_CHARS or any(c.isspace() or not c.isprintable() or not c.isascii() for c in value):
                raise ValueError(
                    f"auth.api_keys[{i}] must be at least {MIN_API_KEY_CHARS} printable ASCII characters without spaces "
                    f"(it has {len(value)}); generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
                )
        return keys


class LogSettings(_Strict):
    # Off: no question, context or text reaches the logs, and a logged exception keeps its type and
    # stack but not its message (which may quote the input). On: tracebacks are logged whole.
    log_inputs: bool = False


class ServiceSettings(_Strict):
    checkpoint: str = DEFAULT_CHECKPOINT
    # Hidden states as stored in the object store. auto: float16 when the backbone runs on a GPU
    # (halves the bytes a head copies back to its own GPU), float32 on a CPU (no conversion cost;
    # on one node the object store is shared memory, so the bytes are mapped, not copied).
    hidden_dtype: Literal["auto", "float32", "float16"] = "auto"
    router: RouterStage = Field(default_factory=RouterStage)
    backbone: ModelStage = Field(default_factory=ModelStage)
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


def load_settings(args: dict[str, Any] | None, environ: dict[str, str] | None = None) -> ServiceSettings:
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
        return ServiceSettings.model_validate(raw)
    except ValidationError as err:
        lines = [f"  {_describe(e)}" for e in err.errors()]
        raise ServiceConfigError(
            "the service settings (applications[].args of the Serve config) are invalid:\n" + "\n".join(lines)
        ) from None


def _describe(error: Any, prefix: str = "") -> str:
    """`path.to.key: what is wrong and what to do`, without pydantic's "Value error, " noise."""
    path = ".".join(p for p in (prefix, ".".join(str(p) for p in error["loc"])) if p)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        message = "unknown key; remove it or check its spelling (service/deploy/settings.py lists the keys)"
    if not path or message.startswith(path):
        return message
    return f"{path}: {message}"


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged
