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

from service.deploy.stages import Batching, RunConfig

log = logging.getLogger("wiyh.service")


class InPlaceConfig:
    """One replica's side of `reconfigure`: validates, then hands the batching to `apply`."""

    def __init__(self, deployment: str, apply: Callable[[Batching], None]):
        self.deployment, self.apply = deployment, apply
        self.updates = 0  # user_configs applied after the first: what an in-place update did
        self.current: Batching | None = None

    def __call__(self, user_config: Any) -> None:
        try:
            config = RunConfig.model_validate(user_config or {})
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
            message = (f"deployments[{self.deployment}].user_config is not valid: {problems} (its shape: "
                       "{batching: {max_batch_size: 1-1024, batch_wait_timeout_s: 0-1}})")
            if self.current is None:
                raise ValueError(message) from None
            log.error("%s; keeping batching %s", message, self.current.model_dump())
            return
        if config.batching is None:
            return
        self.apply(config.batching)
        if self.current is not None:
            self.updates += 1
            log.info("deployments[%s]: batching now %s", self.deployment, config.batching.model_dump())
        self.current = config.batching
