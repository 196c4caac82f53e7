"""The one private Ray API left in the repository (the fault scripts' GCS actor-table reading,
loadtests/faults/replicas.py): this fails when a Ray upgrade moves or reshapes it, before a fault
run misreads the table. The service itself uses no private Ray API."""
from __future__ import annotations

import inspect
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_gcs_actor_table_reader_still_takes_a_state_filter():
    from ray._private import state

    assert "actor_state_name" in inspect.signature(state.actors).parameters


def test_the_service_package_uses_no_private_ray_api():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "service").rglob("*.py")
                 if "ray._private" in p.read_text() or "_get_serve_request_context" in p.read_text()
                 or "_get_serve_batch_request_context" in p.read_text()]
    assert offenders == []
