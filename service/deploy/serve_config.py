"""A Serve config file as the service reads it: `args:` (ours: what the application is) and
`deployments:` (Serve's: how many replicas, how deep their queues, how they batch), which Serve
applies to running replicas in place on `serve deploy` (reconfigure.py).

Our rules span both sections (a batch must fit in `max_ongoing_requests`; a batch request must fit
in every batch), and Serve never shows the `deployments:` section to `build_app`. So the file is
checked here as Serve will run it: each `deployments:` entry folded into the stage of `args:` it
configures, then validated as one (settings.py), every problem naming the key and the fix:

    python -m service.deploy.serve_config deploy/serve_config.yaml

Deployment names: `router`, `backbone` (with `backbone.placement: replica`), `head_<name>` (a head
with `placement: replica`). A `deployments:` entry may set num_replicas, autoscaling_config,
max_ongoing_requests, max_queued_requests, health_check_period_s, health_check_timeout_s and
user_config ({batching: {...}}, and for the router that runs the whole model `checkpoint: PATH`,
the checkpoint a running replica swaps to in place: checkpoint_swap.py); anything else stays in
`args:` (resources, placement, threads). `args: checkpoint` stays what the application is built
with (its heads and tasks); the user_config's must have the same heads and tasks.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Mapping

import yaml

from service.deploy.settings import ServiceConfigError, deep_merge, load_settings
from service.pipeline.failures import BACKBONE

HEAD_PREFIX = "head_"
# Serve's name for each deployment option this service reads -> ours in a stage of `args:`
OPTION_NAMES = {"num_replicas": "num_replicas", "autoscaling_config": "autoscaling",
                "max_ongoing_requests": "max_ongoing_requests", "max_queued_requests": "max_queued_requests",
                "health_check_period_s": "health_check_period_s", "health_check_timeout_s": "health_check_timeout_s"}


def stage_of(entry: Mapping[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the stage's keys in `args:` form, the batching its user_config sets or None)."""
    unknown = sorted(set(entry) - set(OPTION_NAMES) - {"name", "user_config"})
    if unknown:
        raise ServiceConfigError(f"{where}: {unknown} are not read from `deployments:` by this service; set them in "
                                 f"`args:` (resources, placement, threads) or remove them; it reads "
                                 f"{sorted([*OPTION_NAMES, 'user_config'])}")
    stage = {ours: entry[theirs] for theirs, ours in OPTION_NAMES.items() if theirs in entry}
    if "autoscaling" in stage and "num_replicas" not in stage:
        stage["num_replicas"] = None  # Serve takes the one the file sets over the code's
    if "num_replicas" in stage and stage["num_replicas"] is not None and "autoscaling" not in stage:
        stage["autoscaling"] = None
    user_config = entry.get("user_config") or {}
    if not isinstance(user_config, dict) or set(user_config) - {"batching", "checkpoint"}:
        raise ServiceConfigError(f"{where}.user_config: must be {{batching: {{max_batch_size, batch_wait_timeout_s}}}} "
                                 f"(and, for the router that runs the model, checkpoint: PATH), got {user_config!r}")
    return stage, user_config.get("batching")


def effective_args(app: Mapping[str, Any]) -> dict[str, Any]:
    """An application's `args:` with its `deployments:` folded in: what its replicas will run."""
    args = dict(app.get("args") or {})
    for i, entry in enumerate(app.get("deployments") or []):
        name = entry.get("name")
        where = f"deployments[{i}] ({name})"
        stage, batching = stage_of(entry, where)
        checkpoint = (entry.get("user_config") or {}).get("checkpoint")
        in_router = (args.get("backbone") or {}).get("placement") == "router"
        if checkpoint is not None and not (name == "router" and in_router):
            raise ServiceConfigError(f"{where}.user_config.checkpoint: only the router that runs the whole model "
                                     "(backbone.placement: router) swaps its checkpoint in place; with the backbone or "
                                     "heads as their own deployments, change `args: checkpoint` (a rebuild)")
        if checkpoint is not None and not isinstance(checkpoint, str):
            raise ServiceConfigError(f"{where}.user_config.checkpoint: a checkpoint directory's path, got {checkpoint!r}")
        if name == "router":
            if batching is not None and not in_router:
                raise ServiceConfigError(f"{where}.user_config: the router batches nothing unless the backbone runs in "
                                         "it (backbone.placement: router); set batching on the backbone deployment")
            args["router"] = deep_merge(args.get("router") or {}, stage)
            if batching is not None:
                args["backbone"] = deep_merge(args.get("backbone") or {}, {"batching": batching})
        elif name == BACKBONE:
            args["backbone"] = deep_merge(args.get("backbone") or {}, {**stage, **({"batching": batching} if batching else {})})
        elif isinstance(name, str) and name.startswith(HEAD_PREFIX):
            head = name.removeprefix(HEAD_PREFIX)
            heads = dict(args.get("heads") or {})
            overrides = dict(heads.get("overrides") or {})
            overrides[head] = deep_merge(overrides.get(head) or {}, {**stage, **({"batching": batching} if batching else {})})
            args["heads"] = {**heads, "overrides": overrides}
        else:
            raise ServiceConfigError(f"{where}: unknown deployment {name!r}; this application's deployments are "
                                     f"'router', '{BACKBONE}' and '{HEAD_PREFIX}<head>'")
    return args


def file_args(path: Path, application: int = 0) -> dict[str, Any]:
    """The effective `args:` of one application of a Serve config file: what `serve.run(build_app(...))`
    must be given to run what `serve deploy` of that file runs."""
    return effective_args(yaml.safe_load(Path(path).read_text())["applications"][application])


def check(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> list[str]:
    """Every problem of every application of a Serve config file (empty: it can be deployed as far
    as the file can tell; the checkpoint is verified when the application is built)."""
    from ray.serve.schema import ServeDeploySchema
    from pydantic import ValidationError

    try:
        schema = ServeDeploySchema.model_validate(config)
    except ValidationError as err:
        return [f"not a Serve config: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()]
    problems = []
    for app_config, app in zip(config["applications"], schema.applications):
        try:
            load_settings(effective_args(app_config), environ=environ)
        except ServiceConfigError as err:
            problems.append(f"application {app.name!r} (`args:` with its `deployments:` folded in): {err}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.deploy.serve_config",
                                     description="Check a Serve config file as Serve will run it (args and deployments).")
    parser.add_argument("config", type=Path)
    path = parser.parse_args(argv).config
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        print(f"{path}: cannot be read as YAML: {err}", file=sys.stderr)
        return 2
    problems = check(config)
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if not problems:
        print(f"{path}: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
