"""Our log lines in each replica's Serve log, in the encoding the settings choose.

Serve writes what its "ray.serve" logger receives to the replica's own file (logs/serve/ in the
Ray session directory), TEXT or JSON by the deployment's `logging_config`, each line with the
deployment, the replica and Serve's request id (the id our request_ids.py adopts, so the id in a
JSON line's `request_id` is the one in the client's x-request-id). Our loggers ("wiyh", and
"wiyh.service" under it) would otherwise reach only the worker's stderr, in Ray's plain format: in a
replica they write through Serve's handlers instead. Outside a replica (tests, the benchmark)
nothing changes.
"""
from __future__ import annotations

import logging
from typing import Literal

from service.http.logs import LOGGER_NAMES

SERVE_LOGGER = "ray.serve"
LogEncoding = Literal["TEXT", "JSON"]


def logging_config(encoding: LogEncoding, access_log: bool) -> dict[str, object]:
    """A deployment's `logging_config` option. Serve applies an application's `logging_config` only
    to deployments that set none, and each of ours sets one (for its access log), so the encoding
    is set here, from the service's settings."""
    return {"encoding": encoding, "enable_access_log": access_log}


def write_through_serve() -> None:
    """Called in a replica's constructor, after Serve configured its logger for that replica."""
    handlers = logging.getLogger(SERVE_LOGGER).handlers
    if not handlers:
        return
    top = logging.getLogger(LOGGER_NAMES[0])  # "wiyh.service" propagates to it
    top.handlers = list(handlers)
    top.setLevel(logging.INFO)
    top.propagate = False
