"""Build the Serve application from a checkpoint and the deploy settings.

`serve run deploy/serve_config.yaml` imports `service.deploy.app:build_app` and calls it with the
config's `args:`. The application reads like the data-flow picture:

    Router(Backbone(+ colocated heads), {head: Head, ...})
    Router(+ backbone + colocated heads)        backbone.placement: router (every head colocated)

The checkpoint is verified in full (every file's sha256, every head's metadata and shapes) before
any deployment is described. A broken checkpoint therefore fails the build with a message naming
the file, and a `serve deploy` / `serve run` of it changes nothing: Serve keeps the application
that is already running when an update's build fails (it reports DEPLOY_FAILED with our message).
"""
from __future__ import annotations

from typing import Any

from ray.serve import Application
from ray.serve.exceptions import RayServeException

from service.pipeline.catalog import Catalog
from service.deploy.deployments import Backbone, Head, Router
from service.pipeline.failures import BACKBONE, stage_of_head
from service.deploy.settings import CHECKPOINT_ENV, ServiceConfigError, ServiceSettings, load_settings
from model.checkpoint import CheckpointError, verify_checkpoint


class DeployRefused(ServiceConfigError, RayServeException):
    """A config or checkpoint that must not be deployed, as Serve's own exception type: Serve's
    build task then fails at once with this message, where any other exception is retried three
    times (each retry re-imports torch and re-reads the checkpoint) although the answer cannot change."""


def build_app(args: dict[str, Any] | None = None) -> Application:
    """The application builder Serve calls; `args` are validated by ServiceSettings."""
    try:
        return build_from_settings(load_settings(args))
    except ServiceConfigError as err:
        raise DeployRefused(str(err)) from None


def build_from_settings(settings: ServiceSettings) -> Application:
    checkpoint = settings.checkpoint_path()
    try:
        manifest = verify_checkpoint(checkpoint)
    except CheckpointError as err:
        raise ServiceConfigError(
            f"the checkpoint cannot be deployed: {err}\n(the checkpoint comes from `checkpoint:` in the config or ${CHECKPOINT_ENV}; "
            "train one with `python -m training train --preset quick --out checkpoints/quick`)"
        ) from None
    stages = settings.head_stages([h.name for h in manifest.heads])
    catalog = Catalog.from_manifest(manifest, {name: s.placement for name, s in stages.items()},
                                    chance_bound=settings.explanation_chance_bound)
    colocated = {name: s for name, s in stages.items() if s.placement == "colocated"}

    encoding = settings.logging.encoding
    router_options = settings.router.serve_options("router", encoding)
    if settings.backbone.placement == "router":
        replicas = sorted(name for name, s in stages.items() if s.placement == "replica")
        if replicas:
            raise ServiceConfigError(
                f"backbone.placement: router runs the whole model in the router replica, so every head must be colocated; "
                f"heads {replicas} are replicas: set their placement to colocated (heads.default / heads.overrides), "
                f"or set backbone.placement: replica"
            )
        router_options = settings.in_router_options()
    router_options["backpressure_config"] = {"status_code": 503, "retry_after_s": settings.router.retry_after_s}
    if settings.backbone.placement == "router":
        # One deployment: Router(+ backbone + colocated heads in its own replica).
        return Router.options(**router_options).bind(None, {}, catalog, settings, str(checkpoint), colocated)
    backbone = Backbone.options(**settings.backbone.serve_options(BACKBONE, encoding)).bind(
        str(checkpoint), settings.backbone, colocated, settings.resolved_hidden_dtype())
    heads = {
        name: Head.options(**stage.serve_options(stage_of_head(name), encoding)).bind(str(checkpoint), name, stage)
        for name, stage in stages.items() if stage.placement == "replica"
    }
    # Serve's proxy refuses requests beyond the router's queue with this status and Retry-After.
    return Router.options(**router_options).bind(backbone, heads, catalog, settings)
