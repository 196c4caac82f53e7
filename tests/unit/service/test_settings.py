"""Deploy configs load into Serve's schema and ours; a bad one fails naming the key and the fix."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from service.deploy.serve_config import effective_args
from service.deploy.settings import ServiceConfigError, ServiceSettings, load_settings

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
HEADS = ["span", "multispan", "answer_type", "yesno", "number", "summary"]


def serve_configs() -> dict[str, dict]:
    configs = {p.name: yaml.safe_load(p.read_text()) for p in (DEPLOY / "serve_config.yaml", DEPLOY / "serve_config.gpu.yaml")}
    service = yaml.safe_load((DEPLOY / "kuberay" / "rayservice.yaml").read_text())
    configs["kuberay"] = yaml.safe_load(service["spec"]["serveConfigV2"])
    return configs


@pytest.mark.parametrize("name", ["serve_config.yaml", "serve_config.gpu.yaml", "kuberay"])
def test_deploy_configs_are_valid_for_serve_and_for_us(name):
    config = serve_configs()[name]
    schema = ServeDeploySchema.model_validate(config)
    [app] = schema.applications
    assert app.import_path == "service.deploy.app:build_app"
    # as its replicas run it: `args:` with Serve's `deployments:` section folded in
    settings = load_settings(effective_args(config["applications"][0]), environ={})
    stages = settings.head_stages(HEADS)
    # every replica must ask for a fraction of a CPU or it never schedules on a small machine
    for stage in [settings.router, settings.backbone, *stages.values()]:
        assert 0 < stage.num_cpus <= 1
        assert stage.max_queued_requests >= 1
    assert settings.backbone.max_ongoing_requests >= settings.backbone.batching.max_batch_size
    if name == "serve_config.yaml":
        assert schema.http_options.host == "127.0.0.1" and schema.http_options.port == 8000
        assert settings.checkpoint == "checkpoints/quick"
        assert settings.resolved_hidden_dtype() == "float32"
        assert all(s.num_gpus == 0 for s in stages.values()) and settings.backbone.num_gpus == 0
    else:
        assert settings.backbone.num_gpus > 0 and settings.resolved_hidden_dtype() == "float16"


def test_the_environment_overrides_the_checkpoint():
    assert load_settings({"checkpoint": "a"}, environ={"WIYH_CHECKPOINT": "/b"}).checkpoint == "/b"
    assert load_settings({"checkpoint": "a"}, environ={}).checkpoint == "a"
    assert load_settings(None, environ={}).checkpoint == "checkpoints/quick"


def test_head_overrides_merge_over_the_default():
    settings = load_settings({"heads": {"default": {"num_cpus": 0.2, "batching": {"max_batch_size": 32}, "max_ongoing_requests": 64},
                                        "overrides": {"yesno": {"placement": "colocated", "batching": {"batch_wait_timeout_s": 0.05}}}}},
                             environ={})
    stages = settings.head_stages(HEADS)
    assert stages["yesno"].placement == "colocated" and stages["span"].placement == "replica"
    assert stages["yesno"].batching.max_batch_size == 32 and stages["yesno"].batching.batch_wait_timeout_s == 0.05
    assert stages["yesno"].num_cpus == 0.2


def test_serve_options_carry_resources_replicas_and_queue_bounds():
    settings = load_settings({"backbone": {"num_cpus": 0.5, "autoscaling": {"min_replicas": 1, "max_replicas": 3}}}, environ={})
    options = settings.backbone.serve_options("backbone")
    assert options["ray_actor_options"] == {"num_cpus": 0.5, "num_gpus": 0}
    assert options["autoscaling_config"]["max_replicas"] == 3 and "num_replicas" not in options
    assert options["max_queued_requests"] == settings.backbone.max_queued_requests
    assert settings.router.serve_options("router")["num_replicas"] == 1


def test_the_log_encoding_reaches_every_deployment_with_its_access_log_setting():
    # Serve applies an application's logging_config only to deployments that set none, and ours
    # all set one: the encoding has to come from our settings.
    settings = load_settings({"logging": {"encoding": "JSON"}, "backbone": {"placement": "router"},
                              "heads": {"default": {"placement": "colocated"}}}, environ={})
    assert settings.in_router_options()["logging_config"] == {"encoding": "JSON", "enable_access_log": True}
    head = settings.head_stages(HEADS)["span"]
    assert head.serve_options("head_span", settings.logging.encoding)["logging_config"] == {
        "encoding": "JSON", "enable_access_log": False}
    assert load_settings({}, environ={}).router.serve_options("router")["logging_config"]["encoding"] == "TEXT"
    with pytest.raises(ServiceConfigError, match="logging.encoding: Input should be 'TEXT' or 'JSON'"):
        load_settings({"logging": {"encoding": "json-lines"}}, environ={})


@pytest.mark.parametrize("args, message", [
    ({"backbone": {"max_ongoing_requests": 4, "batching": {"max_batch_size": 8}}},
     "backbone: max_ongoing_requests 4 is below batching.max_batch_size 8, so a batch can never fill; raise max_ongoing_requests to at least 8"),
    ({"heads": {"default": {"max_ongoing_requests": 2}}}, "heads.default: max_ongoing_requests 2 is below batching.max_batch_size 16"),
    ({"heads": {"overrides": {"span": {"placement": "elsewhere"}}}}, "heads.overrides.span.placement: Input should be 'replica' or 'colocated'"),
    ({"backbone": {"num_replicas": 2, "autoscaling": {"max_replicas": 2}}}, "set either num_replicas or autoscaling, not both"),
    ({"backbone": {"autoscaling": {"min_replicas": 3, "max_replicas": 2}}}, "min_replicas 3 is above max_replicas 2"),
    ({"routr": {}}, "routr: unknown key; remove it or check its spelling"),
    ({"router": {"num_cpus": 0}}, "router.num_cpus: Input should be greater than 0"),
    ({"router": {"num_gpus": 1}}, "the router runs no model; set num_gpus: 0"),
    ({"limits": {"max_batch_items": 64}}, "limits.max_batch_items 64 exceeds backbone.batching.max_batch_size 16"),
    ({"limits": {"max_batch_items": 16}, "heads": {"overrides": {"number": {"batching": {"max_batch_size": 4}}}}},
     "limits.max_batch_items 16 exceeds heads.overrides.number.batching.max_batch_size 4"),
    ({"hidden_dtype": "int8"}, "hidden_dtype: Input should be 'auto', 'float32' or 'float16'"),
    ({"backbone": {"placement": "router"}, "router": {"max_ongoing_requests": 8}},
     "router.max_ongoing_requests 8 is below backbone.batching.max_batch_size 16, so a batch can never fill; "
     "raise router.max_ongoing_requests to at least 16"),
    ({"backbone": {"placement": "head"}}, "backbone.placement: Input should be 'replica' or 'router'"),
    ({"backbone": {"placement": "router", "max_queue_wait_s": 10}, "timeouts": {"backbone_s": 10}},
     "backbone.max_queue_wait_s 10 is not below timeouts.backbone_s 10: a call let in to wait that long times out"),
    ({"heads": {"overrides": {"summary": {"fault": {"mode": "explode", "trigger": "x"}}}}}, "heads.overrides.summary.fault.mode"),
])
def test_bad_settings_name_the_key_and_the_fix(args, message):
    with pytest.raises(ServiceConfigError) as err:
        load_settings(args, environ={})
    assert message in str(err.value)


def test_an_override_for_a_head_the_checkpoint_lacks_is_refused():
    settings = load_settings({"heads": {"overrides": {"spam": {"placement": "colocated"}}}}, environ={})
    with pytest.raises(ServiceConfigError, match=r"heads.overrides names \['spam'\], which the checkpoint does not have; its heads are \["):
        settings.head_stages(HEADS)


def test_a_stage_runs_on_the_gpu_exactly_when_it_asks_for_one():
    settings = ServiceSettings.model_validate({"backbone": {"num_gpus": 0.5}})
    assert settings.backbone.device == "cuda" and settings.router.device == "cpu"
    assert ServiceSettings().backbone.device == "cpu"


def test_an_in_router_backbone_gives_the_one_deployment_the_models_resources_and_health_checks():
    settings = load_settings({"router": {"num_cpus": 0.1, "max_ongoing_requests": 64, "autoscaling": {"max_replicas": 2}},
                              "backbone": {"placement": "router", "num_cpus": 0.5, "num_gpus": 0.5, "health_check_timeout_s": 90,
                                           "resources": {"gpu_node": 0.01}}}, environ={})
    options = settings.in_router_options()
    assert options["ray_actor_options"] == {"num_cpus": 0.6, "num_gpus": 0.5, "resources": {"gpu_node": 0.01}}
    assert options["health_check_timeout_s"] == 90  # the check runs the model, behind its batch
    assert options["max_ongoing_requests"] == 64 and options["autoscaling_config"]["max_replicas"] == 2  # the router's


def test_the_kuberay_head_pod_gets_the_serve_cluster_environment_the_demo_and_the_benchmark_use():
    from service.deploy.cluster_env import SERVE_CLUSTER_ENV, with_serve_env

    manifest = yaml.safe_load((DEPLOY / "kuberay" / "rayservice.yaml").read_text())
    [head] = manifest["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"]
    assert {e["name"]: e.get("value") for e in head.get("env", [])}.items() >= SERVE_CLUSTER_ENV.items()
    # the demo's `ray start` gets them, and a value the user set wins
    assert with_serve_env({})["RAY_SERVE_CONTROL_LOOP_INTERVAL_S"] == SERVE_CLUSTER_ENV["RAY_SERVE_CONTROL_LOOP_INTERVAL_S"]
    assert with_serve_env({"RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "0.1"})["RAY_SERVE_CONTROL_LOOP_INTERVAL_S"] == "0.1"
