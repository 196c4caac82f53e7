"""A router replica that runs the whole model swaps its checkpoint in place when its user_config
names another (service/deploy/in_router.py, checkpoint_swap.py), here without Ray: the router's
model and API as the Router deployment builds them, Serve's reconfigure calls made on the API's
event loop. The Serve app doing it under load: tests/integration/test_update_in_place.py."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model.checkpoint import read_manifest
from service.deploy.checkpoint_swap import CheckpointSwap, SwapRefused, layout_difference
from service.deploy.in_router import InRouterModel
from service.deploy.serve_config import effective_args
from service.deploy.settings import ServiceConfigError, load_settings
from service.http.router import create_api
from service.pipeline.catalog import Catalog
from training.testing import make_random_checkpoint, truncated_copy

BODY = {"task": "squad", "inputs": {"question": "Who founded the choir?", "context": "Omar Roberts founded the choir in 1920."}}
BATCHING = {"batching": {"max_batch_size": 8, "batch_wait_timeout_s": 0.002}}


@pytest.fixture(scope="module")
def other_checkpoint(tmp_path_factory) -> Path:
    """Another checkpoint with the same heads and tasks (another seed: other weights, vocabulary, hash)."""
    path = tmp_path_factory.mktemp("other") / "ckpt"
    make_random_checkpoint(path, seed=1)
    return path


@pytest.fixture()
def broken_checkpoint(other_checkpoint, tmp_path) -> Path:
    return truncated_copy(other_checkpoint, tmp_path / "broken")


class RouterReplica:
    """The in-router model and the API over it, wired as the Router deployment wires them."""

    def __init__(self, checkpoint: Path):
        settings = load_settings({"checkpoint": str(checkpoint), "backbone": {"placement": "router"},
                                  "heads": {"default": {"placement": "colocated"}}})
        names = [h.name for h in read_manifest(checkpoint).heads]
        colocated = settings.head_stages(names)
        self.model = InRouterModel(str(checkpoint), self.catalog(checkpoint, names), settings, colocated, metrics=None)
        self.app = create_api(self.model.predictor, self.model.swap.catalog, settings.limits)
        self.model.answers = self.app.state.answers

    @staticmethod
    def catalog(checkpoint: Path, names: list[str]) -> Catalog:
        return Catalog.from_manifest(read_manifest(checkpoint), {name: "colocated" for name in names})


@pytest.fixture()
def replica(random_checkpoint):
    router = RouterReplica(random_checkpoint)
    with TestClient(router.app) as client:
        router.client = client
        router.reconfigure = lambda config: client.portal.call(router.model.reconfigure, config)
        router.reconfigure(BATCHING)  # what Serve calls as the replica starts
        yield router


def answered_with(client: TestClient) -> str:
    r = client.post("/v1/predict", json=BODY)
    assert r.status_code == 200, r.text
    return r.json()["checkpoint"]["hash"]


def test_a_user_config_checkpoint_is_swapped_in_and_every_surface_names_it(replica, random_checkpoint, other_checkpoint):
    old, new = read_manifest(random_checkpoint), read_manifest(other_checkpoint)
    assert old.checkpoint_hash != new.checkpoint_hash
    client = replica.client
    assert answered_with(client) == old.checkpoint_hash
    replica.client.get("/openapi.json")  # cached from here on: the swap must drop it

    replica.reconfigure({**BATCHING, "checkpoint": str(other_checkpoint)})

    assert answered_with(client) == new.checkpoint_hash
    batch = client.post("/v1/predict/batch", json={"items": [BODY, BODY]})
    assert batch.status_code == 200 and batch.json()["checkpoint"]["hash"] == new.checkpoint_hash
    assert client.get("/v1/heads").json()["checkpoint"]["hash"] == new.checkpoint_hash
    metadata = client.get(f"/v2/models/{new.name}")
    assert metadata.status_code == 200 and metadata.json()["versions"] == [new.checkpoint_hash]
    assert client.get(f"/v2/models/{new.name}/versions/{old.checkpoint_hash}").status_code == 404
    paths = client.get("/openapi.json").json()["paths"]
    [asked] = [p for p in paths["/v2/models/{name}/versions/{asked}/infer"]["post"]["parameters"] if p["name"] == "asked"]
    assert asked["schema"]["enum"] == [new.checkpoint_hash]
    stats = replica.model.stats()
    assert (stats["checkpoint"], stats["checkpoint_swaps"], stats["checkpoint_refused"]) == (new.checkpoint_hash, 1, "")
    assert stats["max_batch_size"] == 8, "the new checkpoint's batches keep the batching in force"


def test_a_broken_checkpoint_is_refused_and_the_running_one_keeps_answering(replica, random_checkpoint, broken_checkpoint):
    running = read_manifest(random_checkpoint).checkpoint_hash
    replica.reconfigure({**BATCHING, "checkpoint": str(broken_checkpoint)})  # no exception: Serve would stop the replica
    assert answered_with(replica.client) == running
    refused = replica.model.stats()["checkpoint_refused"]
    assert "heads/span.safetensors" in refused and str(broken_checkpoint) in refused, refused
    # a config naming the running checkpoint again: the refusal clears, nothing is loaded
    replica.reconfigure({**BATCHING, "checkpoint": str(random_checkpoint)})
    assert replica.model.stats()["checkpoint_refused"] == "" and replica.model.stats()["checkpoint_swaps"] == 0


def test_a_replica_starting_with_a_broken_checkpoint_fails_to_start(random_checkpoint, broken_checkpoint):
    router = RouterReplica(random_checkpoint)
    with TestClient(router.app) as client:
        with pytest.raises(SwapRefused, match=r"heads/span\.safetensors"):
            client.portal.call(router.model.reconfigure, {**BATCHING, "checkpoint": str(broken_checkpoint)})


def test_a_checkpoint_with_other_heads_is_refused_naming_the_rebuild(random_checkpoint, other_checkpoint):
    manifest = read_manifest(random_checkpoint)
    names = [h.name for h in manifest.heads]
    serving = RouterReplica.catalog(random_checkpoint, names)
    fewer = serving.model_copy(update={"heads": {n: h for n, h in serving.heads.items() if n != "summary"}})
    assert "summary" in layout_difference(serving, fewer)
    assert layout_difference(serving, RouterReplica.catalog(other_checkpoint, names)) is None

    served = []
    swap = CheckpointSwap(random_checkpoint, serving, catalog_of=lambda m: fewer, load=lambda p: p,
                          serve=lambda loaded, catalog: served.append(catalog))
    asyncio.run(swap(str(other_checkpoint), starting=False))
    assert served == [] and "args: checkpoint" in swap.refused and swap.catalog is serving


def test_only_the_router_that_runs_the_model_takes_a_checkpoint_in_its_user_config(random_checkpoint):
    in_router = {"checkpoint": str(random_checkpoint), "backbone": {"placement": "router"},
                 "heads": {"default": {"placement": "colocated"}}}
    app = {"args": in_router, "deployments": [{"name": "router", "user_config": {**BATCHING, "checkpoint": "/models/b"}}]}
    assert effective_args(app)["backbone"]["batching"]["max_batch_size"] == 8
    split = {"args": {"checkpoint": str(random_checkpoint)},
             "deployments": [{"name": "backbone", "user_config": {"checkpoint": "/models/b"}}]}
    with pytest.raises(ServiceConfigError, match=r"deployments\[0\] \(backbone\)\.user_config\.checkpoint: .*args: checkpoint"):
        effective_args(split)
