"""Every way a request can fail inside the service, and the HTTP status each one becomes.

    exception (where raised)                              status
    InputError      (predict.plan: the request cannot be answered as sent)   422
    UnknownName     (catalog: a task or head the checkpoint lacks)           422, via InputError
    StageError      (an Engine: a stage did not answer), by kind:
        overloaded  its queue is full (Serve's BackPressureError)           503 + Retry-After
        unavailable its replica died or is being replaced                   503 + Retry-After
        timeout     no answer within the stage's timeout                    504
        failed      the stage's own code raised                             502
    InputLost       (a StageError "unavailable": the stored input died with its node)   503
    TargetFailed    (predict: the target head's StageError; non-target ones go to errors[])  as its kind

Raised elsewhere, for the same reasons: http/errors.ApiError (4xx the HTTP layer decides: 400,
413, 415, 401 from http/auth), replica/health.UnhealthyModel (Serve replaces the replica),
deploy/settings.ServiceConfigError and deploy/app.DeployRefused (a config or checkpoint refused before anything is deployed), and
model.checkpoint.CheckpointError. Anything else is a bug: 500 without internals (http/errors.py).

A stage has one name everywhere (deployment, metrics label, log line, error message):
`backbone`, or `head_<name>` (stage_of_head).
"""
from __future__ import annotations

from typing import Literal

ErrorKind = Literal["timeout", "overloaded", "failed", "unavailable"]

STATUS_OF_KIND: dict[str, int] = {"overloaded": 503, "unavailable": 503, "timeout": 504, "failed": 502}
# Statuses that tell the client to come back (they carry Retry-After).
RETRY_LATER = frozenset({503})

BACKBONE = "backbone"


def stage_of_head(head: str) -> str:
    """The one spelling of a head's stage: its Serve deployment name, metrics label and log name."""
    return f"head_{head}"


class StageError(Exception):
    """A stage (backbone or head) did not answer; `message` is safe to show to a client."""

    def __init__(self, stage: str, kind: ErrorKind, message: str, retry_after_s: float | None = None):
        super().__init__(stage, kind, message, retry_after_s)
        self.stage = stage
        self.kind: ErrorKind = kind
        self.message = message
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        return f"{self.stage}: {self.kind}: {self.message}"

    @property
    def status(self) -> int:
        return STATUS_OF_KIND[self.kind]


class InputLost(StageError):
    """The stage is up but the stored input it was given is gone: the hidden states lived in the
    object store of a node that was lost (they outlive the backbone replica that computed them: the
    router owns them). Calling the same stage again with the same reference cannot help: the client
    has to send the request again."""

    def __init__(self, stage: str, message: str, retry_after_s: float | None = None):
        super().__init__(stage, "unavailable", message, retry_after_s)


class InputError(ValueError):
    """A request that is well-formed JSON but cannot be answered as sent (becomes a 422)."""

    status = 422

    def __init__(self, message: str, code: str = "invalid_request"):
        super().__init__(message)
        self.code = code


class UnknownName(ValueError):
    """A task or head the checkpoint lacks; the message lists the valid ones."""


class TargetFailed(Exception):
    """The head that gives the answer did not: the request fails (5xx) with this reason."""

    def __init__(self, head: str, error: StageError, items: list[int]):
        super().__init__(head, error, items)
        self.head, self.error, self.items = head, error, items
