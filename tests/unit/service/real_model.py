"""The router's API over the real model in this process: the in-process engine (the same code the
one-deployment placement and the benchmark's baseline run) with every head colocated, no Ray. The
router's hostile-input tests send what they fuzz through the real tokenizer and heads, so "a
correct answer" is checked on real offsets, not a fake's."""
from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from model.checkpoint import read_manifest
from service.deploy.in_process import load_in_process
from service.http.router import create_api
from service.pipeline.catalog import Catalog
from service.pipeline.limits import Limits, Timeouts
from service.pipeline.predict import Predictor


def real_model_client(checkpoint: Path, limits: Limits | None = None) -> TestClient:
    manifest = read_manifest(checkpoint)
    catalog = Catalog.from_manifest(manifest, {h.name: "colocated" for h in manifest.heads})
    predictor = Predictor(load_in_process(checkpoint), catalog, Timeouts())
    return TestClient(create_api(predictor, catalog, limits or Limits()), raise_server_exceptions=False)
