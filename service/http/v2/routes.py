"""The Open Inference Protocol's routes, for clients written for KServe or Triton (e.g.
`tritonclient.http`), over the same Answers as /v1 (no second model path):

    GET  /v2                                     server metadata
    GET  /v2/health/live, /v2/health/ready       200, or 503 while some stage does not answer
    GET  /v2/models/{model}[/versions/{version}]           the model's inputs and outputs
    GET  /v2/models/{model}[/versions/{version}]/ready
    POST /v2/models/{model}[/versions/{version}]/infer     N inputs -> one backbone pass

The model is the checkpoint (its name; its one version is its hash). Errors on /v2 are
{"error": "<message>"} (errors.py writes them), with the request id in x-request-id.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from service.http.answers import Answers, Serving
from service.http.errors import ApiError, describe_validation, request_id_of
from service.http.v2.infer import INPUT_NAMES, Output, invalid, outputs_of, read_queries, write_outputs
from service.http.v2.schemas import (InferRequest, InferResponse, ModelMetadata, ProtocolError, RequestOutput,
                                     ServerMetadata, TensorMetadata)
from service.http.v2.tensors import BINARY_MEDIA_TYPE, HEADER_LENGTH, TensorError, encode_response, split_body
from service.pipeline.catalog import Catalog
from service.pipeline.failures import InputError
from service.pipeline.metrics import PipelineMetrics

PREFIX = "/v2"
SERVER = ServerMetadata(name="whats-in-your-head", version="1", extensions=["binary_tensor_data"])
ERRORS = {status: {"model": ProtocolError, "description": description} for status, description in {
    400: "The request cannot be read or names what the model does not have; the message says what to change.",
    404: "No such model or version.",
    413: "Body or batch over the limit.",
    502: "The target head failed.",
    503: "Overloaded or not ready; see Retry-After.",
    504: "The backbone or the target head timed out.",
}.items()}
INFER_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/InferRequest"}},
    BINARY_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"},
                        "description": f"the JSON request, then its tensors' binary data; {HEADER_LENGTH} gives the JSON's length"},
}}}


def document_edit(serving: Callable[[], Catalog]) -> Callable[[dict[str, Any]], None]:
    """What the OpenAPI document needs beyond what FastAPI derives: the request's schemas (the
    route reads its body itself, since a binary body is not JSON) and the one model name and
    version the paths take (of the checkpoint `serving()` answers with)."""

    def edit(document: dict[str, Any]) -> None:
        catalog = serving()
        values = {"name": [catalog.checkpoint.name], "asked": [catalog.checkpoint.hash]}
        schema = InferRequest.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, nested in schema.pop("$defs", {}).items():
            schemas.setdefault(name, nested)
        schemas["InferRequest"] = schema
        for path, operations in document["paths"].items():
            if not path.startswith(PREFIX):
                continue
            for operation in operations.values():
                for parameter in operation.get("parameters", []):
                    if parameter["in"] == "path" and parameter["name"] in values:
                        parameter["schema"] = {"type": "string", "enum": values[parameter["name"]]}

    return edit


def install(app: FastAPI, answers: Answers, metrics: PipelineMetrics, retry_after_s: int) -> None:

    def check(name: str, asked_version: str | None) -> Serving:
        """What answers now with the named model (the checkpoint a swap put in place, if one did)."""
        serving = answers.serving
        model, version = serving.checkpoint.name, serving.checkpoint.hash
        if name != model:
            raise ApiError(404, "unknown_model", f"no model {name!r}; this server serves {model!r} (GET /v2/models/{model})")
        if asked_version is not None and asked_version != version:
            raise ApiError(404, "unknown_version", f"model {model!r} has no version {asked_version!r}; its one version "
                                                   f"is {version!r} (the checkpoint's hash)")
        return serving

    async def ready() -> bool:
        stages = await answers.predictor.engine.readiness(answers.predictor.timeouts.ready_s)
        return all(state is None for state in stages.values())

    def readiness(body: dict[str, Any], is_ready: bool) -> JSONResponse:
        headers = None if is_ready else {"Retry-After": str(retry_after_s)}
        return JSONResponse(body, status_code=200 if is_ready else 503, headers=headers)

    @app.get(PREFIX, response_model=ServerMetadata, tags=["v2"])
    async def server_metadata() -> ServerMetadata:
        return SERVER

    @app.get(f"{PREFIX}/health/live", tags=["v2"])
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get(f"{PREFIX}/health/ready", tags=["v2"], responses={503: {"description": "Some stage does not answer."}})
    async def server_ready() -> JSONResponse:
        is_ready = await ready()
        return readiness({"ready": is_ready}, is_ready)

    def metadata(catalog: Catalog) -> ModelMetadata:
        bytes_vector = [-1]
        outputs = [TensorMetadata(name=o.name, datatype=o.datatype, shape=bytes_vector if o.datatype == "BYTES" else [-1, -1])
                   for o in outputs_of(catalog, list(catalog.heads))]
        return ModelMetadata(name=catalog.checkpoint.name, versions=[catalog.checkpoint.hash], platform="whats-in-your-head",
                             inputs=[TensorMetadata(name=n, datatype="BYTES", shape=bytes_vector) for n in INPUT_NAMES],
                             outputs=outputs)

    @app.get(f"{PREFIX}/models/{{name}}", response_model=ModelMetadata, responses=ERRORS, tags=["v2"])
    async def model_metadata(name: str) -> ModelMetadata:
        return metadata(check(name, None).catalog)

    @app.get(f"{PREFIX}/models/{{name}}/versions/{{asked}}", response_model=ModelMetadata, responses=ERRORS, tags=["v2"])
    async def version_metadata(name: str, asked: str) -> ModelMetadata:
        return metadata(check(name, asked).catalog)

    async def model_ready(name: str, asked: str | None) -> JSONResponse:
        model = check(name, asked).checkpoint.name
        is_ready = await ready()
        return readiness({"name": model, "ready": is_ready}, is_ready)

    @app.get(f"{PREFIX}/models/{{name}}/ready", responses=ERRORS, tags=["v2"])
    async def ready_model(name: str) -> JSONResponse:
        return await model_ready(name, None)

    @app.get(f"{PREFIX}/models/{{name}}/versions/{{asked}}/ready", responses=ERRORS, tags=["v2"])
    async def ready_version(name: str, asked: str) -> JSONResponse:
        return await model_ready(name, asked)

    async def infer(name: str, asked: str | None, request: Request) -> Response:
        started = time.perf_counter()
        serving = check(name, asked)  # what answers this request, start to end
        catalog = serving.catalog
        rid = request_id_of(request)
        try:
            header, binary = split_body(await request.body(), request.headers.get(HEADER_LENGTH))
            body = InferRequest.model_validate_json(header)
        except TensorError as err:
            raise invalid(str(err)) from None
        except ValidationError as err:
            _, code, message = describe_validation(list(err.errors()))
            raise ApiError(400, code, message.replace("the request body", "the request's JSON")) from None
        queries = read_queries(body, binary, answers.limits.max_batch_items)
        try:
            planned = answers.plan(serving, queries, where="element {i}: ")
        except InputError as err:
            raise invalid(protocol_message(str(err))) from None
        wanted = select(outputs_of(catalog, planned[0].heads), body.outputs)
        results, _ = await answers.answer(serving, planned, rid)
        default_binary = bool(body.parameters.get("binary_data_output", False))
        written = write_outputs(results, catalog, [o for o, _ in wanted])
        content, header_length = encode_response(
            {"model_name": serving.checkpoint.name, "model_version": serving.checkpoint.hash, "id": body.id or rid, "parameters": {"request_id": rid}},
            [(tensor, values, default_binary if binary is None else binary)
             for (tensor, values), (_, binary) in zip(written, wanted)])
        metrics.request(request.scope["route"].path, 200, (time.perf_counter() - started) * 1000)
        if header_length is None:
            return Response(content, media_type="application/json")
        return Response(content, media_type=BINARY_MEDIA_TYPE, headers={HEADER_LENGTH: str(header_length)})

    infer_doc = {"response_model": InferResponse, "openapi_extra": INFER_BODY, "tags": ["v2"],
                 "responses": {**ERRORS, 200: {"content": {BINARY_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
                                               "description": "JSON, or with outputs in binary: the JSON (its length in "
                                                              f"{HEADER_LENGTH}), then their data"}}}

    @app.post(f"{PREFIX}/models/{{name}}/infer", **infer_doc)
    async def infer_model(name: str, request: Request) -> Response:
        return await infer(name, None, request)

    @app.post(f"{PREFIX}/models/{{name}}/versions/{{asked}}/infer", **infer_doc)
    async def infer_version(name: str, asked: str, request: Request) -> Response:
        return await infer(name, asked, request)


def select(available: list[Output], requested: list[RequestOutput] | None) -> list[tuple[Output, bool | None]]:
    """The outputs to send, each with whether it goes in binary (None: the request's default)."""
    if requested is None:
        return [(o, None) for o in available]
    by_name = {o.name: o for o in available}
    unknown = [r.name for r in requested if r.name not in by_name]
    if unknown:
        raise invalid(f"outputs {unknown} are not outputs of this request; valid outputs: {list(by_name)} (a head's "
                      "output exists when the head runs: see parameters.heads)")
    chosen = []
    for r in requested:
        binary = r.parameters.get("binary_data")
        if binary is not None and not isinstance(binary, bool):
            raise invalid(f"outputs {r.name!r}: parameters.binary_data must be true or false")
        chosen.append((by_name[r.name], binary))
    return chosen


def protocol_message(message: str) -> str:
    """A planning error's message in this protocol's terms: the task, heads and max_new_tokens are
    the request's parameters here, not fields of each input."""
    request_level = message.removeprefix("element 0: ")
    for field in ("task:", "target_head:", "heads:", "options.max_new_tokens"):
        if request_level.startswith(field):
            return "parameters." + request_level.removeprefix("options.")
    return message
