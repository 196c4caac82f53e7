"""A Serve config file checked as Serve will run it (`args:` with `deployments:` folded in), and a
replica's side of an in-place update (its user_config)."""
from __future__ import annotations

import asyncio
import copy
import logging
from pathlib import Path

import pytest
import yaml

from service.deploy.reconfigure import InPlaceConfig
from service.deploy.serve_config import check, effective_args, main
from service.deploy.settings import ServiceConfigError, load_settings
from service.deploy.stages import Batching
from service.replica.batcher import Batcher

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
CONFIGS = ["serve_config.yaml", "serve_config.gpu.yaml", "serve_config.autoscaling.yaml"]


def config(name: str = "serve_config.yaml") -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


@pytest.mark.parametrize("name", CONFIGS)
def test_every_shipped_config_passes_as_serve_will_run_it(name):
    assert check(config(name), environ={}) == []


def test_the_cpu_configs_deployments_section_is_what_its_replicas_run():
    app = config()["applications"][0]
    settings = load_settings(effective_args(app), environ={})
    router = next(d for d in app["deployments"] if d["name"] == "router")
    assert settings.router.max_ongoing_requests == router["max_ongoing_requests"]
    assert settings.router.autoscaling.max_replicas == router["autoscaling_config"]["max_replicas"]
    # the backbone runs in the router's replica: the router's user_config is its batching
    assert settings.backbone.batching.model_dump() == router["user_config"]["batching"]
    # what the code gives Serve when the section is absent agrees with it
    assert settings.in_router_options()["user_config"] == router["user_config"]


def with_deployments(*entries: dict, base: str = "serve_config.yaml") -> dict:
    edited = copy.deepcopy(config(base))
    edited["applications"][0]["deployments"] = list(entries)
    return edited


@pytest.mark.parametrize("entries, message", [
    ([{"name": "router", "max_ongoing_requests": 8}],
     "router.max_ongoing_requests 8 is below backbone.batching.max_batch_size 16"),
    ([{"name": "router", "user_config": {"batching": {"max_batch_size": 2}}}],
     "limits.max_batch_items 16 exceeds backbone.batching.max_batch_size 2"),
    # what Serve's own schema refuses is reported as Serve words it
    ([{"name": "router", "num_replicas": 2, "max_ongoing_requests": 0}],
     "not a Serve config: applications.0.deployments.0.max_ongoing_requests: Input should be greater than 0"),
    ([{"name": "router", "ray_actor_options": {"num_cpus": 4}}], "['ray_actor_options'] are not read from `deployments:`"),
    ([{"name": "router", "user_config": {"batch": {}}}], "user_config: must be {batching:"),
    ([{"name": "head_span", "max_ongoing_requests": 2}], "heads.overrides.span: max_ongoing_requests 2 is below batching.max_batch_size 16"),
    ([{"name": "proxy"}], "unknown deployment 'proxy'"),
])
def test_a_deployments_entry_that_breaks_a_rule_is_named_with_the_fix(entries, message):
    problems = check(with_deployments(*entries), environ={})
    assert len(problems) == 1 and message in problems[0], problems


def test_router_batching_needs_the_backbone_in_the_router():
    edited = with_deployments({"name": "router", "user_config": {"batching": {"max_batch_size": 8}}}, base="serve_config.gpu.yaml")
    [problem] = check(edited, environ={})
    assert "the router batches nothing unless the backbone runs in it" in problem


def test_a_backbone_entry_is_checked_against_its_own_queue():
    edited = with_deployments({"name": "backbone", "max_ongoing_requests": 32,
                               "user_config": {"batching": {"max_batch_size": 64}}}, base="serve_config.gpu.yaml")
    [problem] = check(edited, environ={})
    assert "backbone: max_ongoing_requests 32 is below batching.max_batch_size 64" in problem


def test_the_command_prints_ok_or_every_problem(tmp_path, capsys):
    assert main([str(DEPLOY / "serve_config.yaml")]) == 0
    assert capsys.readouterr().out.strip().endswith("serve_config.yaml: ok")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_deployments({"name": "router", "max_ongoing_requests": 8})))
    assert main([str(bad)]) == 1
    assert "router.max_ongoing_requests 8 is below" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.yaml")]) == 2


# The replica's side

def test_a_new_replica_with_a_bad_user_config_fails_naming_the_key():
    in_place = InPlaceConfig("backbone", lambda batching: None)
    with pytest.raises(ValueError, match=r"deployments\[backbone\].user_config is not valid: batching.max_batch_size"):
        in_place({"batching": {"max_batch_size": 0}})


def test_a_running_replica_applies_an_update_and_keeps_its_batching_on_a_bad_one(caplog):
    applied: list[Batching] = []
    in_place = InPlaceConfig("head_span", applied.append)
    in_place({"batching": {"max_batch_size": 16, "batch_wait_timeout_s": 0.002}})
    in_place({"batching": {"max_batch_size": 4, "batch_wait_timeout_s": 0.002}})
    assert [b.max_batch_size for b in applied] == [16, 4] and in_place.updates == 1
    with caplog.at_level(logging.ERROR, logger="wiyh.service"):
        in_place({"batching": {"max_batch_size": "many"}})
    assert [b.max_batch_size for b in applied] == [16, 4]  # unchanged: the replica keeps serving as it was
    assert "keeping batching {'max_batch_size': 4" in caplog.text


def test_a_batcher_reconfigured_in_place_forms_batches_of_the_new_size():
    sizes: list[int] = []

    async def run(calls: list[int]) -> list[int]:
        sizes.append(len(calls))
        await asyncio.sleep(0.01)
        return calls

    async def scenario() -> list[int]:
        batcher = Batcher(run, max_batch_size=8, wait_s=0.05)
        in_place = InPlaceConfig("backbone", lambda b: batcher.configure(b.max_batch_size, b.batch_wait_timeout_s))
        in_place({"batching": {"max_batch_size": 8, "batch_wait_timeout_s": 0.05}})
        await asyncio.gather(*(batcher(i) for i in range(8)))
        in_place({"batching": {"max_batch_size": 3, "batch_wait_timeout_s": 0.05}})
        return await asyncio.gather(*(batcher(i) for i in range(8)))

    assert asyncio.run(scenario()) == list(range(8))
    assert sizes[0] == 8 and max(sizes[1:]) == 3


def test_the_effective_args_refuse_what_serve_would_refuse_to_apply():
    with pytest.raises(ServiceConfigError, match="unknown deployment"):
        effective_args({"args": {}, "deployments": [{"name": "nobody"}]})
