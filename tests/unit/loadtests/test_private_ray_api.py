"""The one private Ray API left in the repository, the GCS actor-table reading of
service/deploy/liveness.py (after a timed-out call, and in the fault scripts): this fails when a
Ray upgrade moves or reshapes it. No other module of the service uses a private Ray API."""
from __future__ import annotations

import inspect
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_gcs_actor_table_reader_still_takes_a_state_filter():
    from ray._private import state

    assert "actor_state_name" in inspect.signature(state.actors).parameters


def test_the_service_package_uses_no_other_private_ray_api():
    private = ("ray._private", "_get_serve_request_context", "_get_serve_batch_request_context")
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "service").rglob("*.py")
                 if p.name != "liveness.py" and any(name in p.read_text() for name in private)]
    assert offenders == []
