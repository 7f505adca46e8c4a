"""The deployment files in deploy/: every YAML file parses, the folder has what the
README describes, and the Compose stack agrees with the server: the registry starts
only after a successful `db upgrade`; every health check is where it is needed; the
artifact store URLs are ones the server accepts; every variable is documented in
.env.example and local secrets stay out of git and the image.

The image is checked in test_deploy_image.py, Kubernetes in test_deploy_kubernetes.py,
authentication of every deployment in test_deploy_auth.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support.deploy_files import (
    COMPOSE_FILE,
    DEPLOY,
    DOCKERFILE,
    ENV_EXAMPLE,
    PORT,
    ROOT,
    S3_CREDENTIAL_VARS,
    SERVER_GRACE_SECONDS,
    compose_file,
    compose_service,
    dockerignore_rules,
    duration_seconds,
    is_ignored,
    load_all_yaml,
    manifests,
    yaml_files,
)

from registry_server import healthcheck


def test_the_deploy_folder_has_what_the_readme_describes() -> None:
    expected = {
        "Dockerfile",
        "README.md",
        ".env.example",
        "docker-compose.yml",
        "kubernetes/kustomization.yaml",
        "kubernetes/configmap.yaml",
        "kubernetes/secret.yaml",
        "kubernetes/migration-job.yaml",
        "kubernetes/deployment.yaml",
        "kubernetes/service.yaml",
    }
    present = {p.relative_to(DEPLOY).as_posix() for p in DEPLOY.rglob("*") if p.is_file()}
    assert expected <= present
    # The README, or a page it links to, shows both ways to run what is in deploy/.
    readme = ROOT / "README.md"
    linked = re.findall(r"\]\((docs/[\w./-]+\.md)", readme.read_text())
    pages = [readme, *(ROOT / link for link in linked if (ROOT / link).is_file())]
    describing = [
        page
        for page in pages
        if "deploy/kubernetes" in page.read_text() and "docker-compose.yml" in page.read_text()
    ]
    assert describing, [p.relative_to(ROOT).as_posix() for p in pages]


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_every_yaml_file_parses(path: Path) -> None:
    documents = load_all_yaml(path)
    assert documents, f"{path} holds no YAML document"
    for document in documents:
        assert isinstance(document, dict)


# --------------------------------------------------------------------------- Compose


def test_compose_has_the_stack() -> None:
    services = compose_file()["services"]
    assert {"postgres", "minio", "migrate", "registry"} <= set(services)


def test_registry_starts_after_a_successful_migration() -> None:
    registry = compose_service("registry")["depends_on"]
    assert registry["migrate"]["condition"] == "service_completed_successfully"
    assert registry["minio"]["condition"] == "service_healthy"
    assert compose_service("migrate")["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_migrate_runs_db_upgrade_with_the_registry_image() -> None:
    migrate, registry = compose_service("migrate"), compose_service("registry")
    assert migrate["command"] == ["db", "upgrade"]
    assert migrate["image"] == registry["image"]
    assert migrate["build"] == registry["build"]
    database_url = migrate["environment"]["REGISTRY_DATABASE_URL"]
    assert database_url == registry["environment"]["REGISTRY_DATABASE_URL"]
    assert database_url.startswith("postgresql+psycopg2://")
    assert "@postgres:5432/" in database_url


def test_compose_builds_the_image_from_the_repository_root() -> None:
    build = compose_service("registry")["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE


def test_compose_health_checks() -> None:
    services = compose_file()["services"]
    postgres = " ".join(services["postgres"]["healthcheck"]["test"])
    assert "pg_isready" in postgres
    # The MinIO image has no curl: the check must use mc (or its health endpoint).
    minio = services["minio"]["healthcheck"]["test"]
    assert minio == ["CMD", "mc", "ready", "local"] or "/minio/health/live" in " ".join(minio)
    registry = services["registry"]["healthcheck"]
    assert registry["test"] == [
        "CMD",
        "python",
        "-m",
        "registry_server.healthcheck",
        f"127.0.0.1:{PORT}",
    ]
    # The check's own gRPC deadline ends before Docker gives up on the command.
    assert duration_seconds(registry["timeout"]) > healthcheck.DEFAULT_TIMEOUT
    # A one-shot job must not inherit the image's server health check.
    assert services["migrate"]["healthcheck"] == {"disable": True}


def test_every_dependency_condition_can_be_met() -> None:
    services = compose_file()["services"]
    for name, service in services.items():
        for dependency, spec in service.get("depends_on", {}).items():
            target = services[dependency]
            if spec["condition"] == "service_healthy":
                check = target.get("healthcheck")
                assert check and not check.get("disable"), f"{name} waits on {dependency}"
            elif spec["condition"] == "service_completed_successfully":
                assert target.get("restart", "no") == "no", f"{dependency} must be one-shot"


def test_compose_registry_listens_on_the_published_port() -> None:
    registry = compose_service("registry")
    command = registry["command"]
    assert command[0] == "serve"
    listen = command[command.index("--listen") + 1]
    assert listen == f"0.0.0.0:{PORT}"
    assert f"{PORT}:{PORT}" in registry["ports"]
    assert registry["environment"]["REGISTRY_ARTIFACT_STORE"].startswith("s3://")
    assert "endpoint=minio:9000" in registry["environment"]["REGISTRY_ARTIFACT_STORE"]
    for name in S3_CREDENTIAL_VARS:
        assert name in registry["environment"]


@pytest.mark.parametrize("where", ["compose", "configmap"])
def test_the_artifact_store_urls_are_accepted_by_the_server(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry_server.artifacts.factory import from_url
    from registry_server.artifacts.s3 import S3ArtifactStore

    if where == "compose":
        url = compose_service("registry")["environment"]["REGISTRY_ARTIFACT_STORE"]
        url = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", url)  # Compose's defaults
        endpoint = "minio:9000"
    else:
        url = manifests()["ConfigMap"]["data"]["REGISTRY_ARTIFACT_STORE"]
        endpoint = url.split("endpoint=")[1].split("&")[0]
    for name in S3_CREDENTIAL_VARS:
        monkeypatch.setenv(name, "placeholder")
    store = from_url(url)  # builds a client; no network traffic
    assert isinstance(store, S3ArtifactStore)
    assert store.bucket == "models"
    assert store.endpoint == endpoint
    assert store.secure is False


def test_compose_stop_grace_covers_the_server_drain() -> None:
    assert duration_seconds(compose_service("registry")["stop_grace_period"]) > SERVER_GRACE_SECONDS


def test_every_compose_variable_is_documented_in_env_example() -> None:
    text = COMPOSE_FILE.read_text().replace("$$", "")
    references = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?][^}]*)?\}", text)
    required = {name for name, modifier in references if modifier.lstrip(":")[:1] != "-"}
    documented = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"#?\s*([A-Z_][A-Z0-9_]*)=(.*)$", line.strip())
        if match:
            documented[match.group(1)] = match.group(2)
    assert {name for name, _ in references} <= set(documented)
    # Everything without a default is a secret (or derived from one): only placeholders.
    for name in required - {"S3_ACCESS_KEY"}:
        assert "CHANGE-ME" in documented[name], name


def test_local_secrets_stay_out_of_git_and_the_image() -> None:
    assert "deploy/.env" in (ROOT / ".gitignore").read_text().split()
    assert is_ignored("deploy/.env", list(dockerignore_rules()))
