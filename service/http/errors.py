"""One error policy at the HTTP boundary.

- A request we refuse (bad JSON, wrong types, unknown names, too big) -> 4xx whose message says
  what to change.
- A stage that did not answer -> 503 (overloaded / unavailable, with Retry-After), 504 (timeout)
  or 502 (failed), naming the stage but no internals.
- Anything else -> logged with the request id, 500 without internals.
Every error body is {"error": {"code", "message", "request_id"}}, except on the Open Inference
Protocol's /v2 paths, whose clients read {"error": "<message>"}; the id is in the x-request-id
header too (request_ids.py).
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.http.logs import request_scope
from service.pipeline.metrics import PipelineMetrics
from service.pipeline.failures import STATUS_OF_KIND, InputError, StageError, TargetFailed
from service.http.request_ids import HEADER, request_id_in

log = logging.getLogger("wiyh.service")

KNOWN_ENDPOINTS = ("/v1/predict", "/v1/predict/batch", "/v1/heads", "/health/live", "/health/ready")
PROTOCOL_PREFIX = "/v2"


class ApiError(StarletteHTTPException):
    """An HTTP error with our body. A Starlette HTTPException on purpose: FastAPI lets those
    through while it reads the body, so the size limit can raise one mid-read."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(status_code=status, detail=message, headers=headers)
        self.code, self.message = code, message


def request_id_of(request: Request) -> str:
    """The id request_ids.py chose for this request (Serve's x-request-id when it looks like one)."""
    return request_id_in(request.scope)


def error_response(request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    rid = request_id_of(request)
    # A message may quote what the client sent; a lone surrogate there would make the body unencodable.
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    if request.url.path.startswith(PROTOCOL_PREFIX):
        # the Open Inference Protocol's error body, which its clients read (service/http/v2)
        body: dict[str, Any] = {"error": message}
    else:
        body = {"error": {"code": code, "message": message, "request_id": rid}}
    headers = dict(headers or {})
    if request.scope.get("state", {}).get("echo_request_id"):
        # Set here as well as by the middleware: a 500 is sent from outside every middleware.
        headers[HEADER] = rid
    return JSONResponse(body, status_code=status, headers=headers)


def elapsed_ms(request: Request) -> float:
    """Time since the request id middleware saw the request (an error's latency counts like an
    answer's: recording 0 would pull the latency percentiles down)."""
    started = request.scope.get("state", {}).get("started")
    return (time.perf_counter() - started) * 1000 if started is not None else 0.0


def describe_unreadable_body(cause: BaseException | None) -> str:
    """FastAPI answers "There was an error parsing the body" for any body json.loads cannot read
    other than a syntax error; say which case it is and what to send instead."""
    if isinstance(cause, UnicodeDecodeError):
        return (f"the request body is not valid UTF-8 (byte 0x{cause.object[cause.start]:02x} at position {cause.start}); "
                "send the JSON encoded as UTF-8")
    if isinstance(cause, RecursionError):
        return ("the request body nests JSON arrays or objects too deeply to read; a request nests at most 4 levels "
                "(see /docs for its shape)")
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return "the request body has a number too long to read (over 4300 digits); send the numbers /docs describes"
    return "the request body could not be read as JSON; send a JSON object encoded as UTF-8 (see /docs)"


def _preview(value: Any) -> str:
    """A short JSON rendering of a wrong value for a message; never fails (a value nested near
    the parser's limit would exceed the recursion limit when rendered again)."""
    try:
        return json.dumps(value, default=str)[:60]
    except (RecursionError, ValueError, TypeError):
        return f"a {type(value).__name__}"


def stage_error_response(request: Request, err: StageError, retry_after_s: int, what: str) -> JSONResponse:
    status = STATUS_OF_KIND[err.kind]
    headers = {"Retry-After": str(retry_after_s)} if status == 503 else None
    hint = " Retry later." if status == 503 else ""
    return error_response(request, status, f"{err.kind}", f"{what} {err.kind}: {err.message}.{hint}", headers)


def describe_validation(errors: list[dict[str, Any]]) -> tuple[int, str, str]:
    """(status, code, message) for pydantic/FastAPI validation errors, one readable line each."""
    if any(e.get("type") == "json_invalid" for e in errors):
        e = next(e for e in errors if e.get("type") == "json_invalid")
        detail = (e.get("ctx") or {}).get("error", "JSON decode error")
        pos = e["loc"][-1] if e.get("loc") else "?"
        return 400, "malformed_json", f"the request body is not valid JSON ({detail} at character {pos}); send a JSON object"
    lines = []
    for e in errors:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        msg = str(e.get("msg", "invalid"))
        msg = msg.removeprefix("Value error, ")
        if e.get("type") == "missing" and loc == "body":
            msg = "the request has no JSON body; send one (see /docs)"
        elif e.get("type") == "missing":
            msg = "required field is missing"
        elif e.get("type") == "extra_forbidden":
            msg = "unknown field; remove it (see /docs for the fields)"
        elif e.get("type") in ("string_type", "int_type", "list_type", "dict_type", "model_type", "model_attributes_type", "bool_type"):
            msg = f"{msg}, got {type(e.get('input')).__name__} {_preview(e.get('input'))}"
        if msg.startswith(("inputs", "give")):
            # A request model's own message names fields from the request down; in a batch, say which item.
            parts = [str(p) for p in e.get("loc", ()) if p != "body"]
            item = f"{parts[0]}.{parts[1]}." if len(parts) > 1 and parts[0] == "items" else ""
            lines.append(item + msg)
        else:
            lines.append(msg if msg.startswith(loc) else f"{loc}: {msg}")
    return 422, "invalid_request", "; ".join(lines)


def install_error_handlers(app: FastAPI, metrics: PipelineMetrics, retry_after_s: int) -> None:
    def record(request: Request, status: int, kind: str) -> None:
        route = request.scope.get("route")
        # the route's template (/v2/models/{name}/infer), not the path a client sent: bounded labels
        path = request.url.path if request.url.path in KNOWN_ENDPOINTS else getattr(route, "path", "other")
        metrics.error("router", kind)
        metrics.request(path, status, elapsed_ms(request))

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, err: ApiError) -> JSONResponse:
        record(request, err.status_code, err.code)
        return error_response(request, err.status_code, err.code, err.message, err.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        record(request, err.status_code, "http")
        path = request.url.path.encode("unicode_escape", "backslashreplace").decode("ascii")[:200]
        if err.status_code == 400 and err.detail == "There was an error parsing the body":
            message = describe_unreadable_body(err.__cause__)
        else:
            message = {404: f"no endpoint at {path}; the API is at /v1/predict, /v1/predict/batch, /v1/heads, and the "
                            "Open Inference Protocol's at /v2 (see /docs)",
                       405: f"{request.method} is not allowed on {path} (see /docs)"}.get(err.status_code, str(err.detail))
        return error_response(request, err.status_code, "http_" + str(err.status_code), message, err.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()[:100]
        if request.method == "POST" and media != "application/json" and not media.endswith("+json"):
            # FastAPI reads a body as JSON only when it says so; otherwise the error would read
            # "Input should be a valid dictionary ... got bytes", which helps nobody.
            record(request, 415, "validation")
            return error_response(request, 415, "unsupported_media_type",
                                  f"the body must be JSON sent with the header `Content-Type: application/json` (got "
                                  f"{media or 'no Content-Type'}); with curl add -H 'content-type: application/json'")
        status, code, message = describe_validation(list(err.errors()))
        record(request, status, "validation")
        return error_response(request, status, code, message)

    @app.exception_handler(InputError)
    async def _input(request: Request, err: InputError) -> JSONResponse:
        record(request, 422, "validation")
        return error_response(request, 422, err.code, str(err))

    @app.exception_handler(TargetFailed)
    async def _target(request: Request, err: TargetFailed) -> JSONResponse:
        record(request, STATUS_OF_KIND[err.error.kind], f"target_{err.error.kind}")
        log.warning("target head %s %s: %s", err.head, err.error.kind, err.error.message)
        return stage_error_response(request, err.error, retry_after_s, f"target head {err.head!r}")

    @app.exception_handler(StageError)
    async def _stage(request: Request, err: StageError) -> JSONResponse:
        record(request, STATUS_OF_KIND[err.kind], f"{err.stage}_{err.kind}")
        log.warning("%s", err)
        return stage_error_response(request, err, retry_after_s, err.stage)

    @app.exception_handler(Exception)
    async def _internal(request: Request, err: Exception) -> JSONResponse:
        rid = request_id_of(request)
        # Starlette calls this handler from outside every middleware, so the id is set again here.
        with request_scope(rid):
            log.error("request failed: %s", type(err).__name__, exc_info=(type(err), err, err.__traceback__))
        record(request, 500, "internal")
        return error_response(request, 500, "internal", f"internal error; quote request id {rid} when reporting it")
