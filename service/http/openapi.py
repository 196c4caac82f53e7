"""The OpenAPI document states what a request must be, as far as JSON Schema can say it.

FastAPI derives the schema from the pydantic models, which cannot know the checkpoint or the
deploy limits. Here the document gets them: the checkpoint's tasks and heads as enums, the field,
batch and token limits, exactly one of task / target_head and of context / text, and the API-key
schemes when keys are configured. The handlers still check every rule themselves (their messages
say what to change); the schema is what a client, /docs and the schemathesis tests read, and
those tests hold the handlers to it in both directions.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from fastapi import FastAPI

from model.heads import HEAD_KINDS
from service.http.auth import OPEN_PATHS
from service.pipeline.catalog import Catalog
from service.pipeline.limits import Limits

# Paths a key protects when keys are configured, but for auth.OPEN_PATHS (the health probes).
PROTECTED_PREFIXES = ("/v1/", "/v2")


def _string(limits: Limits, description: str) -> dict[str, Any]:
    # `\S`: some non-space character. The handlers also refuse a text of only control or
    # zero-width characters, which a JSON Schema pattern cannot state; the tests allow for it.
    return {"anyOf": [{"type": "string", "minLength": 1, "maxLength": limits.max_field_chars, "pattern": r"\S"},
                      {"type": "null"}], "description": description}


def _exactly_one(present: str, absent: str, present_schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": [present], "properties": {present: present_schema, absent: {"type": "null"}}}


def tighten(schemas: dict[str, Any], catalog: Catalog, limits: Limits) -> None:
    """Edit the component schemas in place."""
    tasks, heads = sorted(catalog.tasks), sorted(catalog.heads)

    inputs = schemas["Inputs"]
    for name, field in inputs["properties"].items():
        inputs["properties"][name] = _string(limits, field.get("description", ""))
    text = {"type": "string"}
    inputs["anyOf"] = [_exactly_one("context", "text", text), _exactly_one("text", "context", text)]

    request = schemas["PredictRequest"]["properties"]
    request["task"]["anyOf"] = [{"type": "string", "enum": tasks}, {"type": "null"}]
    request["target_head"]["anyOf"] = [{"type": "string", "enum": heads}, {"type": "null"}]
    request["heads"]["anyOf"] = [{"type": "array", "items": {"type": "string", "enum": heads}}, {"type": "null"}]
    schemas["PredictRequest"]["anyOf"] = [
        _exactly_one("task", "target_head", {"type": "string"}),
        _exactly_one("target_head", "task", {"type": "string"}),
    ]

    max_new = schemas["Options"]["properties"]["max_new_tokens"]
    max_new["anyOf"] = [{"type": "integer", "minimum": 1, "maximum": limits.max_new_tokens}, {"type": "null"}]

    schemas["BatchRequest"]["properties"]["items"]["maxItems"] = limits.max_batch_items
    type_head_outputs(schemas, sorted({h.kind for h in catalog.heads.values()}))


def type_head_outputs(schemas: dict[str, Any], kinds: list[str]) -> None:
    """HeadOutput as a union discriminated by `kind`: one variant per kind the checkpoint has,
    whose `output` is the pydantic output model that kind declares (model/heads/)."""
    mapping: dict[str, str] = {}
    for kind in kinds:
        head_class = HEAD_KINDS.get(kind)
        output_ref: dict[str, Any] = {"type": "object"}  # a kind this process cannot build: untyped
        if head_class is not None:
            model = head_class.output_model
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, nested in schema.pop("$defs", {}).items():
                schemas.setdefault(name, nested)
            schemas[model.__name__] = schema
            output_ref = {"$ref": f"#/components/schemas/{model.__name__}"}
        variant = f"HeadOutput_{kind}"
        schemas[variant] = {
            "type": "object", "title": variant, "required": ["head", "kind", "output"],
            "properties": {"head": {"type": "string"}, "kind": {"type": "string", "enum": [kind]}, "output": output_ref},
        }
        mapping[kind] = f"#/components/schemas/{variant}"
    schemas["HeadOutput"] = {
        "title": "HeadOutput",
        "description": "One head's output; its shape is given by its kind (GET /v1/heads lists each head's kind).",
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "kind", "mapping": mapping},
    }


def declare_api_keys(document: dict[str, Any]) -> None:
    document.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    }
    for path, operations in document["paths"].items():
        if not path.startswith(PROTECTED_PREFIXES) or path in OPEN_PATHS:
            continue
        for operation in operations.values():
            operation["security"] = [{"bearer": []}, {"apiKey": []}]
            operation["responses"]["401"] = {
                "description": "No API key, or not a valid one; see WWW-Authenticate.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
            }


def install(app: FastAPI, catalog: Catalog, limits: Limits, api_keys: bool,
            extend: Sequence[Callable[[dict[str, Any]], None]] = ()) -> None:
    """Make app.openapi() return the tightened document (built once, then cached like FastAPI's);
    each of `extend` edits it too (what FastAPI cannot derive from a route)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            tighten(document["components"]["schemas"], catalog, limits)
            for edit in extend:
                edit(document)
            if api_keys:
                declare_api_keys(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
