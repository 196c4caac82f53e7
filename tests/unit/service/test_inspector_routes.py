"""The inspector's routes over the in-process API (fake stages) and a real tiny checkpoint: the
page and its files are served with a policy that forbids inline script, they stay open when API
keys are configured while /v1/examples does not, and the examples come from the checkpoint."""
from __future__ import annotations

from fastapi.testclient import TestClient

from model.checkpoint import read_examples, read_manifest
from model.example import SETTINGS
from service.pipeline.catalog import Catalog
from service.inspector.paths import PAGE_PATHS
from service.inspector.routes import inspector_routes
from service.pipeline.predict import Predictor
from service.http.router import create_api
from service.deploy.settings import Auth, Limits, Timeouts
from tests.unit.service.fakes import FakeEngine

KEY = "inspector-key-0123456789"


def client_for(checkpoint, keys: list[str] = (), tasks: dict[str, str] | None = None) -> TestClient:
    catalog = Catalog.from_manifest(read_manifest(checkpoint), {})
    if tasks is not None:
        catalog = catalog.model_copy(update={"tasks": tasks})
    predictor = Predictor(FakeEngine(catalog), catalog, Timeouts())
    api = create_api(predictor, catalog, Limits(), auth=Auth(api_keys=list(keys)))
    api.include_router(inspector_routes(checkpoint, catalog))
    return TestClient(api, raise_server_exceptions=False)


def test_the_page_and_its_files_are_served_with_a_strict_policy(random_checkpoint):
    client = client_for(random_checkpoint)
    types = {"/inspect": "text/html", "/inspect/inspector.js": "text/javascript", "/inspect/inspector.css": "text/css"}
    assert set(types) == PAGE_PATHS
    for path, media_type in types.items():
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith(media_type)
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert "unsafe-inline" not in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"
    page = client.get("/inspect").text
    assert '<script src="inspect/inspector.js"' in page and "<script>" not in page  # no inline script for the policy to refuse


def test_examples_are_the_checkpoints_held_out_examples_of_all_three_settings(random_checkpoint):
    body = client_for(random_checkpoint).get("/v1/examples").json()
    stored = {e.id: e for e in read_examples(random_checkpoint)}
    assert body["checkpoint"] == read_manifest(random_checkpoint).name
    assert {e["setting"] for e in body["examples"]} == set(SETTINGS)
    for example in body["examples"]:
        source = stored[example["id"]]
        assert (example["question"], example["context"], example["answer"]) == (source.question, source.context, source.answer)
        assert source.split == "heldout" and example["answer_from"] == "generator"
        for span in example["argument_spans"]:
            assert example["context"][span["start"]:span["end"]] == span["text"]


def test_examples_of_tasks_the_service_does_not_answer_are_not_offered(random_checkpoint):
    body = client_for(random_checkpoint, tasks={"squad": "span"}).get("/v1/examples").json()
    assert body["examples"] and {e["task"] for e in body["examples"]} == {"squad"}


def test_with_api_keys_the_page_is_open_but_the_examples_need_a_key(random_checkpoint):
    client = client_for(random_checkpoint, keys=[KEY])
    for path in PAGE_PATHS:
        assert client.get(path).status_code == 200, path
    assert client.get("/v1/examples").status_code == 401
    assert client.get("/v1/examples", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert client.get("/inspect/../v1/examples").status_code == 401  # an open prefix does not open what lies beside it


def test_examples_are_in_the_openapi_document_and_the_page_is_not(random_checkpoint):
    paths = client_for(random_checkpoint).get("/openapi.json").json()["paths"]
    assert "/v1/examples" in paths
    assert not any(p.startswith("/inspect") for p in paths)


def test_a_real_examples_answer_is_labelled_with_where_it_was_read_from():
    from model.example import Example, Span
    from service.inspector.examples import ExampleView

    real = Example("q1", "qa_summary", "squad", "Denver won.", "Denver", "span", question="Who won?",
                   answer_spans=[Span(0, 6, "Denver")], extra={"source": "held-out articles", "title": "Super_Bowl_50"})
    assert ExampleView.of(real).answer_from == "held-out articles"
