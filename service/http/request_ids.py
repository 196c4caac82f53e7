"""One id per request, in the response (header and body) and in every log line.

Serve's proxy puts its request id in `x-request-id` and echoes it on every response, its own 503s
included; the router reuses it so Serve's access log, our logs and our body agree. Without Serve
(tests, a bare ASGI server) this middleware generates the id and echoes the header itself.

A client can send its own `x-request-id`. It is kept when it looks like an id; anything else (a
10 kB header, spaces, quotes, non-ASCII) is replaced, since the id is copied into logs and bodies.
"""
from __future__ import annotations

import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.http.logs import request_scope

HEADER = "x-request-id"
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


def sanitize(candidate: str | None) -> str:
    if candidate and _SANE.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex


def request_id_in(scope: Scope) -> str:
    """The request's id, chosen once and kept in the scope's state (what `request.state` reads)."""
    state = scope.setdefault("state", {})
    rid = state.get("request_id")
    if rid is None:
        raw = dict(scope.get("headers") or []).get(HEADER.encode())
        rid = sanitize(raw.decode("latin-1") if raw is not None else None)
        state["request_id"] = rid
    return rid


class RequestIdMiddleware:
    """Outermost middleware: fixes the id, scopes log lines to it, echoes it as a header when
    `echo_header` (off under Serve, whose proxy already adds it: a second copy would repeat it)."""

    def __init__(self, app: ASGIApp, echo_header: bool = True):
        self.app, self.echo_header = app, echo_header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_in(scope)
        # errors.error_response reads this: a 500 leaves from outside this middleware.
        scope["state"]["echo_request_id"] = self.echo_header
        # errors.py measures an error response's latency from here, as the handlers do from theirs.
        scope["state"]["started"] = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if self.echo_header and message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if HEADER not in headers:
                    headers.append(HEADER, rid)
            await send(message)

        with request_scope(rid):
            await self.app(scope, receive, send_with_id)
