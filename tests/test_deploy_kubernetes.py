"""The Kubernetes manifests in deploy/kubernetes: the kustomization lists them all;
probes, container port, listen address and Service use one port; pods run as the
image's user and drain within the grace period; the ConfigMap holds no secret and the
Secret only placeholders; the manifests pass only settings the server reads.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from support.deploy_files import (
    BOOTSTRAP_VAR,
    HTTP_PORT,
    KUBERNETES,
    PORT,
    ROOT,
    S3_CREDENTIAL_VARS,
    SERVER_ENV_VARS,
    SERVER_GRACE_SECONDS,
    compose_service,
    container_argv,
    final_stage,
    kustomization,
    manifests,
    pod_container,
    pyproject,
)


def test_kustomization_lists_every_manifest() -> None:
    files = {p.name for p in KUBERNETES.iterdir() if p.suffix in {".yaml", ".yml"}}
    resources = kustomization()["resources"]
    assert len(resources) == len(set(resources))
    assert set(resources) == files - {"kustomization.yaml"}


def test_every_manifest_is_in_the_kustomization_namespace() -> None:
    namespace = kustomization()["namespace"]
    for kind, document in manifests().items():
        if kind == "Namespace":
            assert document["metadata"]["name"] == namespace
        else:
            assert document["metadata"]["namespace"] == namespace, kind


def test_deployment_probes_the_port_the_service_targets_and_the_server_listens_on() -> None:
    deployment, service = manifests()["Deployment"], manifests()["Service"]
    container = pod_container("Deployment")
    assert deployment["spec"]["replicas"] == 3
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": PORT, "http-metrics": HTTP_PORT}
    # The server listens where the ConfigMap (or a --listen flag) says.
    argv = container_argv(container)
    listen = (
        argv[argv.index("--listen") + 1]
        if "--listen" in argv
        else manifests()["ConfigMap"]["data"]["REGISTRY_LISTEN"]
    )
    assert listen.rpartition(":")[2] == str(PORT)
    # Readiness is /healthz on the side port (test_deploy_monitoring.py).
    for probe in ("startupProbe", "livenessProbe"):
        spec = container[probe]
        assert set(spec) & {"httpGet", "tcpSocket", "exec"} == set(), probe
        assert spec["grpc"]["port"] == PORT, probe
    (service_port,) = service["spec"]["ports"]
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert service_port["name"] == "grpc"
    assert service_port["port"] == PORT
    target = service_port["targetPort"]
    assert (ports[target] if isinstance(target, str) else target) == PORT


def test_selectors_match_the_server_pods() -> None:
    deployment = manifests()["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (
        deployment["spec"]["selector"]["matchLabels"],
        manifests()["Service"]["spec"]["selector"],
        manifests()["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items()
    job_labels = manifests()["Job"]["spec"]["template"]["metadata"]["labels"]
    assert not manifests()["Service"]["spec"]["selector"].items() <= job_labels.items()


def test_deployment_serves_with_settings_from_the_configmap_and_secret() -> None:
    container = pod_container("Deployment")
    assert container_argv(container)[:2] == ["registry-server", "serve"]
    sources = {next(iter(s)): next(iter(s.values()))["name"] for s in container["envFrom"]}
    assert sources == {
        "configMapRef": manifests()["ConfigMap"]["metadata"]["name"],
        "secretRef": manifests()["Secret"]["metadata"]["name"],
    }
    assert container["image"] == pod_container("Job")["image"]
    # Both run the image the kustomization retags, at the tag it sets.
    (image,) = kustomization()["images"]
    name, _, tag = container["image"].partition(":")
    assert (name, tag) == (image["name"], image["newTag"])
    assert tag == pyproject()["project"]["version"]


def test_migration_job_runs_db_upgrade_with_the_database_secret() -> None:
    job = manifests()["Job"]
    container = pod_container("Job")
    assert container_argv(container) == ["registry-server", "db", "upgrade"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in {"Never", "OnFailure"}
    (env,) = container["env"]
    assert env["name"] == "REGISTRY_DATABASE_URL"
    reference = env["valueFrom"]["secretKeyRef"]
    secret = manifests()["Secret"]
    assert reference["name"] == secret["metadata"]["name"]
    assert reference["key"] in secret["stringData"]


def test_pods_run_as_the_image_user_and_cannot_escalate() -> None:
    (user,) = final_stage("USER")
    for kind in ("Deployment", "Job"):
        pod = manifests()[kind]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert str(pod["securityContext"]["runAsUser"]) == user.split(":")[0]
        assert pod["automountServiceAccountToken"] is False
        container = pod_container(kind)
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound]), (kind, bound)


def test_shutdown_drains_within_the_grace_period() -> None:
    pod = manifests()["Deployment"]["spec"]["template"]["spec"]
    pre_stop = pod_container("Deployment")["lifecycle"]["preStop"]
    command = pre_stop["exec"]["command"]
    assert command[0] == "sleep"
    sleep = float(command[1])
    assert sleep > 0
    assert pod["terminationGracePeriodSeconds"] >= sleep + SERVER_GRACE_SECONDS
    strategy = manifests()["Deployment"]["spec"]["strategy"]
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_the_secret_holds_placeholders_only() -> None:
    secret = manifests()["Secret"]
    assert "data" not in secret
    assert set(secret["stringData"]) == {
        "REGISTRY_DATABASE_URL",
        *S3_CREDENTIAL_VARS,
        BOOTSTRAP_VAR,
    }
    for key, value in secret["stringData"].items():
        assert "CHANGE-ME" in value, key


def test_configmap_holds_no_secret() -> None:
    data = manifests()["ConfigMap"]["data"]
    assert set(data) == {
        "REGISTRY_LISTEN",
        "REGISTRY_HTTP_LISTEN",
        "REGISTRY_WORKERS",
        "REGISTRY_PROCESSES",
        "REGISTRY_ARTIFACT_STORE",
        "REGISTRY_REQUIRE_AUTH",
    }
    assert BOOTSTRAP_VAR not in data
    assert int(data["REGISTRY_WORKERS"]) > 0
    # One process per core of the pod's CPU limit (see supervisor.py).
    assert int(data["REGISTRY_PROCESSES"]) >= 1
    assert data["REGISTRY_ARTIFACT_STORE"].startswith("s3://")


@pytest.mark.skipif(
    not (shutil.which("kubectl") or shutil.which("kustomize")),
    reason="needs kubectl or kustomize to render the kustomization",
)
def test_kustomize_renders_the_folder() -> None:
    kubectl = shutil.which("kubectl")
    command = [kubectl, "kustomize"] if kubectl else [str(shutil.which("kustomize")), "build"]
    result = subprocess.run([*command, str(KUBERNETES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(result.stdout) if doc)
    assert kinds == sorted(manifests())


# ------------------------------------------------------------- settings the server reads


def _registry_env_names() -> set[str]:
    names = set(compose_service("registry")["environment"]) | set(
        compose_service("migrate")["environment"]
    )
    names |= set(manifests()["ConfigMap"]["data"]) | set(manifests()["Secret"]["stringData"])
    names |= {env["name"] for env in pod_container("Job").get("env", [])}
    return names


def test_manifests_pass_only_settings_the_server_reads() -> None:
    config_source = (ROOT / "registry_server" / "config.py").read_text()
    for name in SERVER_ENV_VARS:
        assert f'"{name}"' in config_source, f"registry_server/config.py does not read {name}"
    used = {n for n in _registry_env_names() if n.startswith("REGISTRY_")}
    assert used == set(SERVER_ENV_VARS)
    s3_credentials = {n for n in _registry_env_names() if n.startswith("AWS_")}
    assert s3_credentials == set(S3_CREDENTIAL_VARS)
    # The S3 store takes its credentials from these variables, not from the URL.
    artifact_sources = "".join(
        p.read_text() for p in (ROOT / "registry_server").rglob("*.py") if "artifacts" in p.parts
    )
    for name in S3_CREDENTIAL_VARS:
        assert f'"{name}"' in artifact_sources, f"the S3 store does not read {name}"
