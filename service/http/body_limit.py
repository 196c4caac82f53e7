"""Refuse bodies over the size limit (413) before they are parsed, whether or not the client
declared a Content-Length: a declared size is refused before anything is read; a chunked body is
counted as it arrives and refused at the first byte over."""
from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.http.errors import ApiError


def _too_large(size: str, limit: int) -> ApiError:
    return ApiError(413, "body_too_large",
                    f"the request body is {size} bytes; the limit is {limit} bytes: send fewer or shorter inputs "
                    "(split a batch into several)")


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send, declared.decode())
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Raised inside the body read: FastAPI passes HTTP exceptions on to the handlers.
                    raise _too_large(f"over {self.max_bytes}", self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, scope: Scope, send: Send, size: str) -> None:
        from starlette.requests import Request

        from service.http.errors import error_response

        err = _too_large(size, self.max_bytes)
        response = error_response(Request(scope), 413, err.code, err.message)
        await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
