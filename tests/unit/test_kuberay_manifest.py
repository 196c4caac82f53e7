"""deploy/kuberay/rayservice.yaml: a RayService of KubeRay's ray.io/v1 API (>= 1.3, which added
spec.upgradeStrategy) on the image of deploy/docker/Dockerfile, the checkpoint from a read-only
volume, the API keys from a Secret. Its serveConfigV2 is checked against Serve's own schema and our
settings in tests/unit/service/test_settings.py."""
from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "kuberay" / "rayservice.yaml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"

_POD_TEMPLATE = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["containers"],
            "properties": {"containers": {"type": "array", "minItems": 1,
                                          "items": {"type": "object", "required": ["name", "image"]}},
                           "volumes": {"type": "array"}, "securityContext": {"type": "object"}},
        },
    },
}
_START_PARAMS = {"type": "object", "additionalProperties": {"type": "string"}}
# The fields of KubeRay's RayService v1 spec (ray-operator/apis/ray/v1/rayservice_types.go) as of
# KubeRay 1.3 and later, each that this manifest uses typed as the CRD types it. The two deprecated
# thresholds, which KubeRay has ignored since 1.1, are refused.
RAYSERVICE_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "ray.io/v1"},
        "kind": {"const": "RayService"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["rayClusterConfig", "serveConfigV2", "upgradeStrategy"],
            "additionalProperties": False,
            "properties": {
                "serveConfigV2": {"type": "string"},
                "upgradeStrategy": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "type": {"enum": ["NewCluster", "NewClusterWithIncrementalUpgrade", "None"]},
                        "clusterUpgradeOptions": {"type": "object"},
                    },
                },
                "rayClusterDeletionDelaySeconds": {"type": "integer", "minimum": 0},
                "serveService": {"type": "object"},
                "excludeHeadPodFromServeSvc": {"type": "boolean"},
                "suspend": {"type": "boolean"},
                "managedBy": {"type": "string"},
                "rayClusterConfig": {
                    "type": "object",
                    "required": ["headGroupSpec"],
                    "properties": {
                        "rayVersion": {"type": "string"},
                        "enableInTreeAutoscaling": {"type": "boolean"},
                        "headGroupSpec": {
                            "type": "object",
                            "required": ["template"],
                            "properties": {"rayStartParams": _START_PARAMS, "template": _POD_TEMPLATE},
                        },
                        "workerGroupSpecs": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["groupName", "template"],
                                "properties": {
                                    "groupName": {"type": "string"},
                                    "replicas": {"type": "integer"},
                                    "minReplicas": {"type": "integer"},
                                    "maxReplicas": {"type": "integer"},
                                    "rayStartParams": _START_PARAMS,
                                    "template": _POD_TEMPLATE,
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text())


def pod_specs(service: dict) -> dict[str, dict]:
    cluster = service["spec"]["rayClusterConfig"]
    specs = {"head": cluster["headGroupSpec"]["template"]["spec"]}
    specs |= {g["groupName"]: g["template"]["spec"] for g in cluster.get("workerGroupSpecs", [])}
    return specs


def test_the_manifest_is_a_rayservice_of_the_v1_api_with_an_upgrade_strategy():
    service = manifest()
    jsonschema.validate(service, RAYSERVICE_SCHEMA)
    assert service["spec"]["upgradeStrategy"]["type"] == "NewCluster"


@pytest.mark.parametrize("field", ["serviceUnhealthySecondThreshold", "deploymentUnhealthySecondThreshold"])
def test_the_schema_refuses_the_thresholds_kuberay_ignores(field):
    service = manifest()
    service["spec"][field] = 900
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(service, RAYSERVICE_SCHEMA)


def test_the_schema_refuses_an_unknown_upgrade_type():
    service = manifest()
    service["spec"]["upgradeStrategy"]["type"] = "BlueGreen"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(service, RAYSERVICE_SCHEMA)


def test_every_pod_reads_the_checkpoint_from_a_read_only_volume_where_the_serve_config_points():
    service = manifest()
    checkpoint = yaml.safe_load(service["spec"]["serveConfigV2"])["applications"][0]["args"]["checkpoint"]
    for group, spec in pod_specs(service).items():
        volumes = {v["name"]: v for v in spec["volumes"]}
        [container] = spec["containers"]
        mounts = [m for m in container["volumeMounts"] if "persistentVolumeClaim" in volumes[m["name"]]]
        assert mounts, f"{group}: no volume mounted from a PersistentVolumeClaim"
        [mount] = mounts
        assert mount["readOnly"] is True and volumes[mount["name"]]["persistentVolumeClaim"]["readOnly"] is True, group
        assert checkpoint.startswith(mount["mountPath"].rstrip("/") + "/"), f"{group}: {checkpoint} is not under {mount['mountPath']}"


def test_every_pod_gets_the_api_keys_from_a_secret():
    # The app is built by a Ray task (num_cpus=0) that may run on any pod: each needs the keys.
    for group, spec in pod_specs(manifest()).items():
        [container] = spec["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert "value" not in env["WIYH_API_KEYS"], f"{group}: API keys written into the manifest"
        ref = env["WIYH_API_KEYS"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "wiyh-api-keys" and ref["key"] == "api-keys", group
        assert f"--from-literal={ref['key']}=" in MANIFEST.read_text(), "the header's kubectl command must create that key"


def test_every_pod_runs_the_cuda_image_as_the_images_non_root_user():
    service = manifest()
    [user] = re.findall(r"^USER\s+(\d+):(\d+)\s*$", DOCKERFILE.read_text(), re.M)
    uses_gpus = "num_gpus" in service["spec"]["serveConfigV2"]
    for group, spec in pod_specs(service).items():
        [container] = spec["containers"]
        assert container["image"].endswith("-cuda" if uses_gpus else "-cpu"), f"{group}: {container['image']}"
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True, group
        assert (str(context["runAsUser"]), str(context["runAsGroup"])) == user, f"{group}: not the Dockerfile's USER {user}"
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, group


def test_the_clusters_ray_is_the_ray_the_image_installs():
    [pinned] = re.findall(r"^ray==(\S+)", (ROOT / "requirements" / "runtime-cuda.lock").read_text(), re.M)
    assert manifest()["spec"]["rayClusterConfig"]["rayVersion"] == pinned
