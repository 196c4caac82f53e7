"""The inspector's HTTP routes, as an APIRouter the service's FastAPI app includes."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from service.pipeline.catalog import Catalog
from service.inspector.examples import ExamplesResponse, load_examples
from service.inspector.paths import PAGE_PATHS

# The page inserts every input and model output as text; this policy is the second line of
# defence: no inline script, nothing from another origin, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                                "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
STATIC = {  # path -> (file in static/, media type); the same paths as PAGE_PATHS
    "/inspect": ("inspector.html", "text/html; charset=utf-8"),
    "/inspect/inspector.js": ("inspector.js", "text/javascript; charset=utf-8"),
    "/inspect/inspector.css": ("inspector.css", "text/css; charset=utf-8"),
}


def inspector_routes(checkpoint: str | Path, catalog: Catalog) -> APIRouter:
    """The page and /v1/examples. Files and examples are read once, here, not per request."""
    if set(STATIC) != PAGE_PATHS:
        raise RuntimeError(f"service/inspector: STATIC serves {sorted(STATIC)} but PAGE_PATHS opens {sorted(PAGE_PATHS)}; keep them equal")
    router = APIRouter()
    examples = ExamplesResponse(checkpoint=catalog.checkpoint.name, examples=load_examples(checkpoint, set(catalog.tasks)))
    static = files("service.inspector") / "static"
    for path, (name, media_type) in STATIC.items():
        router.add_api_route(path, _static_handler(static.joinpath(name).read_bytes(), media_type),
                             methods=["GET"], include_in_schema=False)

    @router.get("/v1/examples", response_model=ExamplesResponse)
    async def list_examples() -> ExamplesResponse:
        """Held-out examples of each task the checkpoint serves, stored with it at training time."""
        return examples

    return router


def _static_handler(body: bytes, media_type: str):
    async def handler() -> Response:
        return Response(body, media_type=media_type, headers=SECURITY_HEADERS)
    return handler
