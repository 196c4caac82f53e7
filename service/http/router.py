"""The HTTP API: a FastAPI app over a Predictor. No Ray here, so it is tested with fake stages.

    POST /v1/predict        one input  -> target + non-target outputs + errors + timings
    POST /v1/predict/batch  N inputs   -> the backbone sees them as one batch, not N calls
    GET  /v1/heads          heads, kinds, tasks, checkpoint name and hash, limits
    GET  /health/live       the router process answers
    GET  /health/ready      every stage answers
    GET  /docs              OpenAPI
    /v2/...                 the Open Inference Protocol (KServe / Triton clients): v2/routes.py

Around every request, outermost first: the request id (request_ids.py), the API key when keys are
configured (auth.py), the body size limit (body_limit.py); then FastAPI, with one error policy
(errors.py) and an OpenAPI document that states the checkpoint's names and the limits (openapi.py).
"""
from __future__ import annotations

import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from service.http import logs, openapi
from service.http.answers import Answers
from service.http.auth import ApiKeyAuth, KeyChecker
from service.http.body_limit import BodySizeLimit
from service.http.v2 import routes as v2_routes
from service.pipeline.catalog import Catalog
from service.http.errors import error_response, install_error_handlers, request_id_of
from service.pipeline.metrics import NullMetrics, PipelineMetrics
from service.pipeline.predict import Predictor
from service.http.schemas import (BatchRequest, BatchResponse, ErrorResponse, HeadsResponse, LimitsView,
                             PredictRequest, PredictResponse)
from service.http.request_ids import RequestIdMiddleware
from service.http.auth import Auth
from service.pipeline.limits import Limits

ERRORS = {
    400: {"model": ErrorResponse, "description": "Malformed JSON."},
    413: {"model": ErrorResponse, "description": "Body or batch over the limit."},
    415: {"model": ErrorResponse, "description": "The body was not sent as application/json."},
    422: {"model": ErrorResponse, "description": "Missing, empty or wrong fields; unknown task or head."},
    500: {"model": ErrorResponse, "description": "A bug; the message gives the request id to report."},
    502: {"model": ErrorResponse, "description": "The target head failed."},
    503: {"model": ErrorResponse, "description": "Overloaded or not ready; see Retry-After."},
    504: {"model": ErrorResponse, "description": "The backbone or the target head timed out."},
}


def create_api(predictor: Predictor, catalog: Catalog, limits: Limits, retry_after_s: int = 1,
               metrics: PipelineMetrics | None = None, *, auth: Auth | None = None, log_inputs: bool = False,
               echo_request_id: bool = True) -> FastAPI:
    """`echo_request_id`: send x-request-id ourselves; False under Serve, whose proxy adds it to
    every response (a second copy would repeat it)."""
    metrics = metrics or NullMetrics()
    logs.configure(log_inputs)
    checker = KeyChecker([k.get_secret_value() for k in (auth or Auth()).api_keys])
    app = FastAPI(
        title="whats-in-your-head",
        version="1",
        description="One backbone pass per input; the target head's answer together with what every other head says.",
    )
    # add_middleware wraps what is there: the last added runs first.
    app.add_middleware(BodySizeLimit, max_bytes=limits.max_body_bytes)
    app.add_middleware(ApiKeyAuth, checker=checker, refuse=error_response, on_refused=lambda code: metrics.error("router", code))
    app.add_middleware(RequestIdMiddleware, echo_header=echo_request_id)
    install_error_handlers(app, metrics, retry_after_s)
    answers = Answers(predictor, catalog, limits, retry_after_s)
    app.state.merged = answers.merged
    app.state.answers = answers  # the router replica swaps the checkpoint it answers with (deploy/in_router.py)
    openapi.install(app, catalog, limits, api_keys=checker.enabled, extend=[v2_routes.document_edit(lambda: answers.catalog)])
    answers.swapped.append(lambda: setattr(app, "openapi_schema", None))  # it names the checkpoint's hash
    v2_routes.install(app, answers, metrics, retry_after_s)

    @app.post("/v1/predict", response_model=PredictResponse, responses=ERRORS)
    async def predict(body: PredictRequest, request: Request) -> PredictResponse:
        started = time.perf_counter()
        response = await answers.predict(body, request_id_of(request))
        metrics.request("/v1/predict", 200, _ms(started))
        return json_response(response)

    @app.post("/v1/predict/batch", response_model=BatchResponse, responses=ERRORS)
    async def predict_batch(body: BatchRequest, request: Request) -> BatchResponse:
        started = time.perf_counter()
        response = await answers.predict_batch(body, request_id_of(request))
        metrics.request("/v1/predict/batch", 200, _ms(started))
        return json_response(response)

    @app.get("/v1/heads", response_model=HeadsResponse)
    async def heads() -> HeadsResponse:
        serving = answers.catalog
        return HeadsResponse(
            checkpoint=serving.checkpoint,
            heads=list(serving.heads.values()),
            tasks=serving.tasks,
            limits=LimitsView(**limits.model_dump()),
        )

    @app.get("/health/live")
    async def live() -> dict:
        return {"status": "alive"}

    @app.get("/health/ready", responses={503: {"description": "Some stage does not answer."}})
    async def ready() -> JSONResponse:
        stages = await answers.predictor.engine.readiness(answers.predictor.timeouts.ready_s)
        not_ready = {k: v for k, v in stages.items() if v is not None}
        body = {"ready": not not_ready, "stages": {k: v or "ready" for k, v in stages.items()}}
        headers = {"Retry-After": str(retry_after_s)} if not_ready else None
        return JSONResponse(body, status_code=503 if not_ready else 200, headers=headers)

    return app


def json_response(body: BaseModel) -> Response:
    """The response model as JSON in one pass of pydantic-core's serializer. Returned as it is, FastAPI
    would dump it to a dict, validate that dict against `response_model` again and walk it with
    jsonable_encoder before json.dumps: three more passes over every head's output (measured:
    docs/results.md, "Why the host path is written as it is"). `response_model` stays on the route
    for the OpenAPI document."""
    return Response(body.model_dump_json(), media_type="application/json")


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000
