"""Optional API-key authentication, checked before the body is read.

A client sends `Authorization: Bearer <key>` or `X-API-Key: <key>`. Without a valid key the
answer is 401 with `WWW-Authenticate` and our error body. The health endpoints stay open (load
balancers and Kubernetes probe them without credentials), and so do /docs and /openapi.json, which
describe the API but answer nothing, and so does the inspector page (not its /v1/examples).
No keys configured: nothing is checked.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from service.inspector.paths import PAGE_PATHS

MIN_API_KEY_CHARS = 16

OPEN_PATHS = frozenset({"/health/live", "/health/ready", "/v2/health/live", "/v2/health/ready", "/docs",
                        "/docs/oauth2-redirect", "/openapi.json", "/redoc"}) | PAGE_PATHS
CHALLENGE = 'Bearer realm="whats-in-your-head"'
MISSING = ("this API needs a key: send it as the header `Authorization: Bearer <key>` (or `X-API-Key: <key>`); "
           "the operator sets keys with auth.api_keys or $WIYH_API_KEYS")
INVALID = "the API key sent is not valid; check it, or ask the operator for a current one"


class Auth(BaseModel):
    """API keys a client must send (Authorization: Bearer <key> or X-API-Key); none: the API is
    open, e.g. behind a gateway that authenticates. Health endpoints and /docs stay open."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error

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


def _digest(key: bytes) -> bytes:
    # Comparing fixed-length digests keeps the time independent of where, and whether, the lengths differ.
    return hashlib.sha256(key).digest()


class KeyChecker:
    """Is a presented key one of the configured ones? Constant time per configured key."""

    def __init__(self, keys: Sequence[str]):
        self._digests = [_digest(k.encode()) for k in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def accepts(self, presented: bytes) -> bool:
        found = _digest(presented)
        ok = False
        for expected in self._digests:  # no early exit: every key is compared every time
            ok |= hmac.compare_digest(found, expected)
        return ok


def presented_key(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The key from `Authorization: Bearer <key>` or `X-API-Key: <key>`, as sent (bytes)."""
    for name, value in headers:
        if name == b"x-api-key" and value.strip():
            return value.strip()
        if name == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip()
    return None


class ApiKeyAuth:
    """ASGI middleware; `refuse(request, status, code, message, headers)` builds the 401 response
    (errors.error_response) so the body has the shape and request id of every other error."""

    def __init__(self, app: ASGIApp, checker: KeyChecker, refuse: Callable, on_refused: Callable[[str], None] | None = None):
        self.app, self.checker, self.refuse, self.on_refused = app, checker, refuse, on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.checker.enabled or self._is_open(scope):
            await self.app(scope, receive, send)
            return
        key = presented_key(scope.get("headers") or [])
        if key is not None and self.checker.accepts(key):
            await self.app(scope, receive, send)
            return
        code, message = ("missing_api_key", MISSING) if key is None else ("invalid_api_key", INVALID)
        if self.on_refused is not None:
            self.on_refused(code)
        response = self.refuse(Request(scope), 401, code, message, {"WWW-Authenticate": CHALLENGE})
        await response(scope, receive, send)

    @staticmethod
    def _is_open(scope: Scope) -> bool:
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        return path in OPEN_PATHS
