"""What the GPU benchmark relies on that can be checked without a GPU: the autocast switch of the
compute slot, and head replicas' GPU fractions that fit one device."""
import asyncio

import pytest
import torch

from loadtests.serving import LAYOUTS, gpu_asked, mode_args, placement_args
from service.deploy.settings import load_settings
from service.replica.compute import ComputeSlot, autocast_dtype

GPU_ARGS = {"backbone": {"num_gpus": 0.5}, "heads": {"default": {"num_gpus": 0.1, "placement": "replica"}}}


def test_autocast_names_are_checked():
    assert autocast_dtype(None) is None and autocast_dtype("") is None
    assert autocast_dtype("bfloat16") is torch.bfloat16
    with pytest.raises(ValueError, match="WIYH_AUTOCAST='fp8'"):
        autocast_dtype("fp8")
    with pytest.raises(ValueError, match="valid values"):
        ComputeSlot(autocast="half")


def test_autocast_changes_nothing_without_a_gpu():
    slot = ComputeSlot(autocast="float16")
    x = torch.ones(4, 4)
    result = asyncio.run(slot.run(torch.matmul, x, x))
    assert result.dtype == (torch.float16 if torch.cuda.is_available() else torch.float32)


def test_head_replicas_share_what_the_backbone_leaves_of_one_gpu():
    heads = [f"h{i}" for i in range(8)]
    args = placement_args(GPU_ARGS, "replica", "/ckpt", heads)
    assert args["heads"]["default"]["num_gpus"] == pytest.approx(0.5 / 8)
    assert args["backbone"]["num_replicas"] == 1 and args["backbone"]["autoscaling"] is None
    assert args["heads"]["overrides"] == {h: {"placement": "replica"} for h in heads}


def test_fractions_that_fit_are_kept_and_cpu_configs_untouched():
    args = placement_args(GPU_ARGS, "replica", "/ckpt", ["a", "b"])
    assert args["heads"]["default"]["num_gpus"] == 0.1
    colocated = placement_args(GPU_ARGS, "colocated", "/ckpt", [f"h{i}" for i in range(8)])
    assert colocated["heads"]["default"]["num_gpus"] == 0.1  # colocated heads take no GPU of their own
    cpu = placement_args({"backbone": {"num_cpus": 0.5}}, "replica", "/ckpt", ["a"] * 8)
    assert "num_gpus" not in cpu["heads"]["default"]


def test_applications_up_at_once_ask_for_one_gpu_together():
    heads = [f"h{i}" for i in range(8)]
    fanout = placement_args(GPU_ARGS, "replica", "/ckpt", heads, gpu_share=0.5)
    colocated = placement_args(GPU_ARGS, "colocated", "/ckpt", heads, gpu_share=0.5)
    assert gpu_asked(fanout, 8) == pytest.approx(0.5) and gpu_asked(colocated, 0) == pytest.approx(0.5)
    # the backbone keeps half of what the application has, the head replicas share the rest
    assert fanout["backbone"]["num_gpus"] == pytest.approx(0.25)
    assert fanout["heads"]["default"]["num_gpus"] == pytest.approx(0.25 / 8)
    assert GPU_ARGS["backbone"]["num_gpus"] == 0.5  # the config it was made from is untouched


def test_the_benchmark_counts_every_applications_cpu_asks():
    # The benchmark's Ray gets at least what its applications ask together, or the last stays
    # pending: on 2 cores, fan-out + colocated + colocated direct ask 2.6 logical CPUs.
    import yaml

    from loadtests.serving import cpu_asked

    config = yaml.safe_load(open("deploy/serve_config.yaml"))["applications"][0]["args"]
    heads = [f"h{i}" for i in range(8)]
    fanout = placement_args(config, "replica", "ckpt", heads)
    colocated = placement_args(config, "colocated", "ckpt", heads)
    assert cpu_asked(fanout, len(heads)) == pytest.approx(0.1 + 0.5 + 8 * 0.1)
    assert cpu_asked(colocated, 0) == pytest.approx(0.1 + 0.5)
    assert cpu_asked(fanout, len(heads)) + 2 * cpu_asked(colocated, 0) > 2


def test_each_serve_mode_deploys_the_layout_it_names():
    import yaml

    config = yaml.safe_load(open("deploy/serve_config.yaml"))["applications"][0]["args"]
    heads = ["span", "yesno"]
    apps = {mode: mode_args(mode, config, "ckpt", heads) for mode in LAYOUTS}
    assert {m: (a["backbone"]["placement"], a["router"].get("ingress", "proxy")) for m, a in apps.items()} == {
        "fanout": ("replica", "proxy"), "colocated": (config["backbone"]["placement"], "proxy"),
        "colocated_direct": (config["backbone"]["placement"], "direct"), "colocated_split": ("replica", "proxy")}
    assert apps["fanout"]["heads"]["overrides"] == {h: {"placement": "replica"} for h in heads}
    assert all(a["heads"]["overrides"] == {h: {"placement": "colocated"} for h in heads} for m, a in apps.items() if m != "fanout")
    for mode, args in apps.items():  # the service takes each as it is
        settings = load_settings(args, environ={"RAY_SERVE_ENABLE_DIRECT_INGRESS": "1"})
        assert settings.backbone.placement == args["backbone"]["placement"], mode
