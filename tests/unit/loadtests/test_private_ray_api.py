"""The private Ray APIs the repository uses, each named here with why, and held to what the code
expects of it: a Ray upgrade that moves or reshapes one fails here, not in production.

- service/deploy/liveness.py reads the GCS actor table (`ray._private.state.actors`) after a
  timed-out call, to tell a dead replica from a slow one; the public state API needs the dashboard.
- loadtests/serving.py asks the driver's Serve client (`ray.serve.context._get_global_client`) for
  the instance details that name a direct-ingress replica's port: the dashboard REST API serves the
  same document, and the benchmark's private cluster runs no dashboard.
- tests/integration/test_update_to_a_broken_checkpoint.py and test_update_in_place.py deploy a
  config through the same client, as `serve deploy` does through the dashboard, which the test
  cluster does not run.

No other module of the repository may use a private Ray API."""
from __future__ import annotations

import inspect
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
ALLOWED = {"service/deploy/liveness.py": "ray._private", "loadtests/serving.py": "_get_global_client",
           "tests/integration/test_update_to_a_broken_checkpoint.py": "_get_global_client",
           "tests/integration/test_update_in_place.py": "_get_global_client"}
PRIVATE = ("ray._private", "ray.serve._private", "_get_global_client", "_get_serve_request_context",
           "_get_serve_batch_request_context", "_get_internal_replica_context")


def test_the_gcs_actor_table_reader_still_takes_a_state_filter():
    from ray._private import state

    assert "actor_state_name" in inspect.signature(state.actors).parameters


def test_the_driver_serve_client_still_gives_instance_details():
    from ray.serve._private.client import ServeControllerClient
    from ray.serve.context import _get_global_client

    assert callable(_get_global_client) and callable(ServeControllerClient.get_serve_details)


def test_no_other_code_uses_a_private_ray_api():
    code = [p for folder in ("model", "training", "service", "loadtests", "scripts", "tests") for p in (ROOT / folder).rglob("*.py")
            if p != Path(__file__)]
    offenders = []
    for path in code:
        text, rel = path.read_text(), str(path.relative_to(ROOT))
        used = [name for name in PRIVATE if name in text and name != ALLOWED.get(rel)]
        if used:
            offenders.append(f"{rel}: {used}")
    assert offenders == []
