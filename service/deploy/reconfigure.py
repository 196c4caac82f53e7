"""What Serve changes in a running replica: a model deployment's `user_config`.

Serve applies a change to a deployment's `num_replicas`, `autoscaling_config`,
`max_ongoing_requests` or `user_config` (in the config's `deployments:` section, through `serve
deploy`) to the replicas that are running, without restarting them or reloading the checkpoint;
for `user_config` it calls the replica's `reconfigure`, which lands here. A model deployment's
user_config is its batching, `{"batching": {"max_batch_size": 16, "batch_wait_timeout_s": 0.002}}`
(stages.py gives each deployment its configured batching as the default).

A user_config that is not valid fails a new replica (the deploy fails with the key and the fix,
as Serve reports it); a running replica keeps its batching and logs the refusal instead, since
raising there would make Serve stop a replica that is serving.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from pydantic import ValidationError

from service.deploy.stages import Batching, RouterRunConfig, RunConfig

log = logging.getLogger("wiyh.service")


class InPlaceConfig:
    """One replica's side of `reconfigure`: validates, then hands the batching to `apply`."""

    def __init__(self, deployment: str, apply: Callable[[Batching], None], schema: type[RunConfig] = RunConfig):
        """`schema`: RouterRunConfig for a router that runs the model (it may name a checkpoint too)."""
        self.deployment, self.apply, self.schema = deployment, apply, schema
        self.updates = 0  # user_configs applied after the first: what an in-place update did
        self.current: Batching | None = None
        self.started = False  # a first user_config has been applied (Serve calls reconfigure at start)

    def __call__(self, user_config: Any) -> RunConfig | None:
        """The valid config, its batching applied; None where a running replica refused it."""
        starting, self.started = not self.started, True
        try:
            config = self.schema.model_validate(user_config or {})
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
            shape = ("{batching: {max_batch_size: 1-1024, batch_wait_timeout_s: 0-1}"
                     + (", checkpoint: PATH}" if self.schema is RouterRunConfig else "}"))
            message = f"deployments[{self.deployment}].user_config is not valid: {problems} (its shape: {shape})"
            if starting:
                raise ValueError(message) from None
            log.error("%s; keeping batching %s", message, self.current.model_dump() if self.current else "as it is")
            return None
        if config.batching is not None:
            self.apply(config.batching)
            if not starting:
                self.updates += 1
                log.info("deployments[%s]: batching now %s", self.deployment, config.batching.model_dump())
            self.current = config.batching
        return config
