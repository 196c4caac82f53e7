"""A broken checkpoint refuses to deploy: build_app (what `serve run` and `serve deploy` call)
verifies it in full before describing any deployment, and the message names the file and the fix.
No Ray cluster is needed to build an application, so these run as unit tests; the integration test
tests/integration/test_update_to_a_broken_checkpoint.py shows a running application surviving such a deploy."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from service.deploy.app import build_app
from service.deploy.settings import ServiceConfigError
from model.checkpoint import sha256_file
from training.testing import make_random_checkpoint


@pytest.fixture()
def checkpoint(random_checkpoint, tmp_path) -> Path:
    copy = tmp_path / "ckpt"
    shutil.copytree(random_checkpoint, copy)
    return copy


@pytest.fixture(scope="module")
def foreign_checkpoint(tmp_path_factory) -> Path:
    """Another random checkpoint: same architecture, another backbone (so another fingerprint)."""
    path = tmp_path_factory.mktemp("foreign") / "ckpt"
    make_random_checkpoint(path, seed=1)
    return path


def rehash(checkpoint: Path, rel: str) -> None:
    """Make the manifest agree with an edited file, as someone mixing checkpoints by hand would."""
    manifest = json.loads((checkpoint / "manifest.json").read_text())
    for head in manifest["heads"]:
        if head["file"] == rel:
            head["sha256"] = sha256_file(checkpoint / rel)
    (checkpoint / "manifest.json").write_text(json.dumps(manifest))


def refused(checkpoint: Path) -> str:
    with pytest.raises(ServiceConfigError) as err:
        build_app({"checkpoint": str(checkpoint)})
    return str(err.value)


def test_an_intact_checkpoint_builds(checkpoint):
    assert build_app({"checkpoint": str(checkpoint)}) is not None


def test_an_in_router_backbone_needs_every_head_colocated(checkpoint):
    # That it is served by one deployment is checked on a running app (tests/integration/test_in_router.py).
    one = {"checkpoint": str(checkpoint), "backbone": {"placement": "router"}, "heads": {"default": {"placement": "colocated"}}}
    assert build_app(one) is not None
    with pytest.raises(ServiceConfigError) as err:
        build_app({**one, "heads": {"default": {"placement": "colocated"}, "overrides": {"summary": {"placement": "replica"}}}})
    assert "every head must be colocated; heads ['summary'] are replicas" in str(err.value)


def test_a_tampered_head_is_refused_naming_the_file(checkpoint):
    path = checkpoint / "heads" / "span.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    message = refused(checkpoint)
    assert "the checkpoint cannot be deployed" in message
    assert "heads/span.safetensors: sha256" in message and "restore it or retrain" in message


def test_a_truncated_backbone_is_refused(checkpoint):
    path = checkpoint / "backbone" / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert "backbone/model.safetensors: sha256" in refused(checkpoint)


def test_a_missing_head_file_is_refused(checkpoint):
    (checkpoint / "heads" / "number.safetensors").unlink()
    assert "heads/number.safetensors: missing" in refused(checkpoint)


def test_a_head_from_another_checkpoint_is_refused_even_with_a_matching_hash(checkpoint, foreign_checkpoint):
    shutil.copy(foreign_checkpoint / "heads" / "span.safetensors", checkpoint / "heads" / "span.safetensors")
    rehash(checkpoint, "heads/span.safetensors")
    assert "head 'span' was trained with another backbone" in refused(checkpoint)


def test_a_head_whose_weights_do_not_fit_is_refused(checkpoint):
    path = checkpoint / "heads" / "answer_type.safetensors"
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        metadata = fh.metadata()
    tensors = load_file(str(path))
    name = next(iter(tensors))
    tensors[name] = torch.zeros(tuple(d + 1 for d in tensors[name].shape))
    save_file(tensors, str(path), metadata=metadata)
    rehash(checkpoint, "heads/answer_type.safetensors")
    assert f"weights do not fit head 'answer_type'" in refused(checkpoint) and name in refused(checkpoint)


def test_a_pickle_file_anywhere_in_the_checkpoint_is_refused(checkpoint):
    torch.save({"x": torch.zeros(1)}, checkpoint / "backbone" / "pytorch_model.bin")
    assert "backbone/pytorch_model.bin: a pickle-format file" in refused(checkpoint)


def test_a_damaged_manifest_is_refused(checkpoint):
    manifest = json.loads((checkpoint / "manifest.json").read_text())
    manifest["format_version"] = 99
    (checkpoint / "manifest.json").write_text(json.dumps(manifest))
    assert "format_version 99 is not supported" in refused(checkpoint)
    (checkpoint / "manifest.json").write_text("{not json")
    assert "manifest.json: not valid JSON" in refused(checkpoint)
