"""Every line the service logs names its request, and none carries input text unless a setting
says so.

- The request id: the router sets it for the duration of a request (`request_scope`); a backbone
  or head replica sets it from the call, which carries the id (a batch names all of its requests). A record that names its own (`extra={"request_id": ...}`) keeps it.
- Input text: our log calls never pass question, context or text. What could still carry it is an
  exception's message (a library quoting its input), so a logged exception keeps its type and
  stack but loses its message, unless `logging.log_inputs` is on (then tracebacks are whole).

The filter sits on our loggers, so it works whatever handler or formatter Ray or the operator
installs; it edits the record's message because a formatter cannot be relied on to print an extra
attribute.
"""
from __future__ import annotations

import logging
import traceback
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

LOGGER_NAMES = ("wiyh", "wiyh.service")

_request_id: ContextVar[str | None] = ContextVar("wiyh_request_id", default=None)


@contextmanager
def request_scope(request_id: str) -> Iterator[None]:
    """Log lines written inside this block (and tasks it starts) name `request_id`."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


def current_request_ids() -> list[str]:
    rid = _request_id.get()
    return [rid] if rid else []


def redacted_traceback(exc_info) -> str:
    """The stack and the exception's type, without its message (which may quote the input)."""
    exc_type, exc, tb = exc_info
    lines = ["Traceback (most recent call last):\n", *traceback.format_tb(tb)]
    name = getattr(exc_type, "__qualname__", str(exc_type))
    lines.append(f"{exc_type.__module__}.{name}: <message withheld: logging.log_inputs is off>")
    return "".join(lines).rstrip("\n")


class RequestContextFilter(logging.Filter):
    """Prefixes each record with its request id; withholds exception messages unless told not to."""

    def __init__(self, log_inputs: bool = False):
        super().__init__()
        self.log_inputs = log_inputs

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "wiyh_tagged", False):
            record.wiyh_tagged = True
            explicit = getattr(record, "request_id", None)
            ids = [str(explicit)] if explicit else current_request_ids()
            record.request_id = ",".join(ids) or "-"
            # The prefix joins the format string: a stray % in an id must not become a directive.
            record.msg = f"[request {record.request_id.replace('%', '%%')}] {record.msg}"
        if record.exc_info and record.exc_info[0] is not None and not self.log_inputs:
            record.exc_text = redacted_traceback(record.exc_info)
        return True


def configure(log_inputs: bool = False) -> None:
    """Install (or re-configure) the filter on our loggers; idempotent, called by every stage."""
    for name in LOGGER_NAMES:
        logger = logging.getLogger(name)
        for existing in [f for f in logger.filters if isinstance(f, RequestContextFilter)]:
            logger.removeFilter(existing)
        logger.addFilter(RequestContextFilter(log_inputs))


# Installed at import with the private default, so a stage that never calls configure() (a head
# replica, a test) still tags and redacts; configure() then applies the deploy setting.
configure()
