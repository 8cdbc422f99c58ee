"""Kubernetes manifests, offline: every overlay renders, validates against the API schemas, and is hardened."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from hanse.settings import Settings
from ops.cli import platform_topics
from ops.migrate import SERVICES
from services import DEPARTMENTS

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
# The oldest Kubernetes we support and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
CORE_GROUPS = {"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1"}
# Secrets created by operators rather than by these manifests.
OPERATOR_SECRETS = {"hanse-db-app"}  # CloudNativePG: the owner role's credentials

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed (renders kustomize)")


def render(path: Path) -> list[dict[str, Any]]:
    result = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"kubectl kustomize {path} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {overlay: render(K8S / "overlays" / overlay) for overlay in OVERLAYS}


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]["spec"]
        for d in docs
        if "template" in d.get("spec", {})
    }


def deployment_of(process: str) -> str:
    return f"hanse-{process}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_resources_pass_strict_schema_validation(rendered, overlay: str):
    checked = Counter()
    for doc in rendered[overlay]:
        if doc["apiVersion"] not in CORE_GROUPS:
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{overlay}: {doc['kind']}/{doc['metadata']['name']} invalid for {version}: {exc.message}")
        checked[doc["kind"]] += 1
    assert checked["Deployment"] == len(SERVICES) and checked["Job"] == 1 and checked["Ingress"] == 1, checked


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_process_is_one_deployment_running_its_own_name_with_service_autoscaler_and_budget(rendered, overlay):
    docs = rendered[overlay]
    deployments, services = of_kind(docs, "Deployment"), of_kind(docs, "Service")
    hpas, pdbs = of_kind(docs, "HorizontalPodAutoscaler"), of_kind(docs, "PodDisruptionBudget")
    assert set(deployments) == {deployment_of(p) for p in SERVICES}
    for process in SERVICES:
        name = deployment_of(process)
        deployment = deployments[name]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert "TEMPLATE" not in str(deployment), f"{name} still carries the template's placeholder"
        assert selector.items() <= pod_labels.items() and selector["app.kubernetes.io/name"] == process
        assert deployment["spec"]["template"]["spec"]["containers"][0]["args"] == ["serve", process]
        assert services[name]["spec"]["selector"] == selector, f"Service {name} does not select its pods"
        assert hpas[name]["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert pdbs[name]["spec"]["selector"]["matchLabels"] == selector
    # No two Deployments select each other's pods.
    selectors = [tuple(sorted(d["spec"]["selector"]["matchLabels"].items())) for d in deployments.values()]
    assert len(set(selectors)) == len(selectors)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_hardened_probed_and_bounded(rendered, overlay):
    for where, spec in pod_specs(rendered[overlay]).items():
        pod_security = spec.get("securityContext", {})
        assert pod_security.get("runAsNonRoot") is True, where
        assert pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
        assert spec.get("automountServiceAccountToken") is False, where
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in spec["containers"]:
            at = f"{where} container {container['name']}"
            security = container.get("securityContext", {})
            assert security.get("readOnlyRootFilesystem") is True, at
            assert security.get("allowPrivilegeEscalation") is False, at
            assert security.get("capabilities", {}).get("drop") == ["ALL"], at
            assert security.get("runAsNonRoot", pod_security.get("runAsNonRoot")) is True, at
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{at}: no {bound}"
            tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{at}: /tmp must be a writable emptyDir"
            if where.startswith("Deployment/"):
                assert container["livenessProbe"]["httpGet"]["path"] == "/livez", at
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", at


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_referenced_secret_and_config_map_exists_or_is_made_by_an_operator(rendered, overlay):
    docs = rendered[overlay]
    config_maps = set(of_kind(docs, "ConfigMap"))
    secrets = set(of_kind(docs, "Secret")) | OPERATOR_SECRETS
    secrets |= {d["spec"]["target"]["name"] for d in docs if d["kind"] == "ExternalSecret"}
    for where, spec in pod_specs(docs).items():
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps, where
            for env in container.get("env", []):
                ref = env.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    assert ref["secretKeyRef"]["name"] in secrets, f"{where}: {env['name']}"
                if "configMapKeyRef" in ref:
                    name, key = ref["configMapKeyRef"]["name"], ref["configMapKeyRef"]["key"]
                    assert name in config_maps and key in of_kind(docs, "ConfigMap")[name]["data"], where
    literal_secrets = of_kind(docs, "Secret")
    if overlay == "prod":
        assert not literal_secrets, "prod takes secrets from the secret manager, never from a manifest"
        assert "hanse-secrets" in {d["metadata"]["name"] for d in docs if d["kind"] == "ExternalSecret"}
    else:
        assert set(literal_secrets) == {"hanse-secrets"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_configuration_points_the_processes_at_each_other_kafka_and_their_databases(rendered, overlay):
    docs = rendered[overlay]
    (config,) = of_kind(docs, "ConfigMap").values()
    data = config["data"]
    services = of_kind(docs, "Service")
    for dept in DEPARTMENTS:
        host = data[f"HANSE_{dept.upper()}_URL"].removeprefix("http://")
        assert host in services, f"HANSE_{dept.upper()}_URL names no Service"
    (kafka,) = of_kind(docs, "Kafka").values()
    assert data["KAFKA_BOOTSTRAP_SERVERS"] == f"{kafka['metadata']['name']}-kafka-bootstrap:9092"
    (cluster,) = of_kind(docs, "Cluster").values()
    assert data["DB_HOST"] == f"{cluster['metadata']['name']}-rw"
    assert data["HANSE_DB"] == "postgres" and data["HANSE_ENV"] == "prod"
    settings = Settings(env="dev", db="postgres", postgres_db_prefix="hanse_")
    databases = {d["spec"]["name"] for d in of_kind(docs, "Database").values()}
    assert databases == {settings.postgres_url_for(p).rsplit("/", 1)[1] for p in SERVICES}
    assert all(d["spec"]["cluster"]["name"] == cluster["metadata"]["name"] for d in of_kind(docs, "Database").values())
    (job,) = of_kind(docs, "Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate", "all"]
    images = {c["image"] for spec in pod_specs(docs).values() for c in spec["containers"]}
    assert len(images) == 1, f"every process and the migration run the same image: {images}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_is_kraft_with_a_topic_for_every_topic_the_code_uses(rendered, overlay):
    docs = rendered[overlay]
    (kafka,) = of_kind(docs, "Kafka").values()
    annotations = kafka["metadata"]["annotations"]
    assert annotations["strimzi.io/kraft"] == "enabled" and annotations["strimzi.io/node-pools"] == "enabled"
    cluster = kafka["metadata"]["name"]
    (pool,) = of_kind(docs, "KafkaNodePool").values()
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == cluster
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    (config,) = of_kind(docs, "ConfigMap").values()
    partitions = int(config["data"]["HANSE_TOPIC_PARTITIONS"])
    settings = Settings(env="dev", topic_prefix=config["data"]["HANSE_TOPIC_PREFIX"], topic_partitions=partitions)
    topics = {t["spec"]["topicName"]: t for t in of_kind(docs, "KafkaTopic").values()}
    assert set(topics) == set(platform_topics(settings))
    replicas = pool["spec"]["replicas"]
    min_isr = kafka["spec"]["kafka"]["config"]["min.insync.replicas"]
    assert min_isr < replicas or replicas == 1, "min.insync.replicas must leave room for one broker to be down"
    for name, topic in topics.items():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == cluster, name
        expected = 1 if name.endswith((".dlq", ".retry")) else partitions
        assert topic["spec"]["partitions"] == expected, name
        assert topic["spec"]["replicas"] == replicas, name
    # More consumers than partitions would idle: the autoscaler stops at the partition count.
    for hpa in of_kind(docs, "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["maxReplicas"] <= partitions, hpa["metadata"]["name"]


def test_prod_is_bigger_than_dev_and_serves_tls(rendered):
    dev, prod = rendered["dev"], rendered["prod"]
    for name, deployment in of_kind(prod, "Deployment").items():
        assert deployment["spec"]["replicas"] >= 3 > of_kind(dev, "Deployment")[name]["spec"]["replicas"], name
        prod_mem = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
        dev_mem = of_kind(dev, "Deployment")[name]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert _mebibytes(prod_mem) > _mebibytes(dev_mem["memory"]), name
    assert of_kind(prod, "Cluster")["hanse-db"]["spec"]["instances"] == 3
    assert of_kind(prod, "KafkaNodePool")["dual-role"]["spec"]["replicas"] == 3
    (ingress,) = of_kind(prod, "Ingress").values()
    assert ingress["spec"]["tls"] and ingress["spec"]["tls"][0]["hosts"] == [ingress["spec"]["rules"][0]["host"]]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "hanse-gateway" and backend["name"] in of_kind(prod, "Service")
    assert not of_kind(dev, "Ingress")["hanse-gateway"]["spec"].get("tls")
    assert prod[0]["metadata"].get("namespace", "hanse") == "hanse"
    image = of_kind(prod, "Deployment")["hanse-gateway"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert not image.endswith((":latest", ":local")) and ":" in image, image


def _mebibytes(quantity: str) -> float:
    units = {"Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


def test_the_external_postgres_component_removes_cloudnativepg_and_keeps_everything_valid(tmp_path: Path):
    # kustomize loads only relative paths below a root, so the overlay goes into a copy of deploy/k8s.
    copy = shutil.copytree(K8S, tmp_path / "k8s")
    overlay = copy / "overlays" / "dev-external-db"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": ["../dev"],
                "components": ["../../components/external-postgres"],
            }
        )
    )
    docs = render(overlay)
    assert not of_kind(docs, "Cluster") and not of_kind(docs, "Database")
    assert len(of_kind(docs, "Deployment")) == len(SERVICES)
    (config,) = of_kind(docs, "ConfigMap").values()
    assert config["data"]["DB_HOST"] == "postgres.example.internal"
    for doc in docs:
        if doc["apiVersion"] in CORE_GROUPS:
            kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)
