"""The deployment files in deploy/ agree with the server and with each other.

There is no Docker engine or Kubernetes cluster in the test environment, so
these tests read the files instead of running them: the YAML parses; Compose
starts the registry only after a successful `db upgrade`; every health check
is where it is needed; the image runs the same `registry-server` console script
the tests run; Kubernetes probes, container port, listen address and Service
all use one port; the settings the manifests pass are ones the server reads;
`.dockerignore` keeps what `pip install .` needs (checked by building a wheel
from exactly the files the image build would see); every server listening on
0.0.0.0 requires authentication (which the server insists on) and gets its
bootstrap admin token from a secret that ships as a placeholder the server refuses.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from registry_server import healthcheck
from registry_server.config import ConfigError, ServerConfig

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = DEPLOY / ".env.example"

PORT = 50051
SERVER_SERVICE = "modelregistry.v1.ModelRegistry"
# Settings the server reads from its environment (registry_server/config.py).
SERVER_ENV_VARS = (
    "REGISTRY_DATABASE_URL",
    "REGISTRY_ARTIFACT_STORE",
    "REGISTRY_LISTEN",
    "REGISTRY_WORKERS",
    "REGISTRY_PROCESSES",
    "REGISTRY_REQUIRE_AUTH",
    "REGISTRY_BOOTSTRAP_ADMIN_TOKEN",
)
BOOTSTRAP_VAR = "REGISTRY_BOOTSTRAP_ADMIN_TOKEN"
S3_CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
SERVER_GRACE_SECONDS = ServerConfig(database_url="sqlite://").grace_seconds


# --------------------------------------------------------------------------- helpers


def _yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yml", ".yaml"})


def _load_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


@cache
def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _service(name: str) -> dict[str, Any]:
    return _compose()["services"][name]


def _seconds(duration: str | int) -> float:
    """Compose durations as used here: 20s, 1m30s, or a bare number of seconds."""
    if isinstance(duration, int):
        return float(duration)
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


@cache
def _dockerfile() -> tuple[tuple[str, str], ...]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1].strip() + " "
            continue
        keyword, _, rest = (current + line).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        current = ""
    assert not current, "the Dockerfile ends inside a line continuation"
    return tuple(instructions)


def _stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each starting with its FROM."""
    stages: list[list[tuple[str, str]]] = []
    for instruction in _dockerfile():
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _final_stage(instruction: str) -> list[str]:
    return [args for kind, args in _stages()[-1] if kind == instruction]


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"not exec form (a JSON array): {args}"
    return value


def _entrypoint() -> list[str]:
    (entrypoint,) = _final_stage("ENTRYPOINT")
    return _exec_form(entrypoint)


def _build_stage_copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY from the build context (not --from a stage)."""
    copies = []
    for stage in _stages():
        for kind, args in stage:
            if kind != "COPY":
                continue
            words = args.split()
            if any(w.startswith("--from") for w in words):
                continue
            words = [w for w in words if not w.startswith("--")]
            copies.append((words[:-1], words[-1]))
    return copies


@cache
def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _package_folders() -> set[str]:
    """The repository folders the wheel's packages come from: each top-level package in
    [tool.setuptools] packages, plus the folders package-dir maps packages to."""
    setuptools = _pyproject()["tool"]["setuptools"]
    mapped = {folder for folder in setuptools["package-dir"].values() if folder != "."}
    tops = {package.split(".")[0] for package in setuptools["packages"]}
    return tops | mapped


def _top_level_packages() -> set[str]:
    return {p.split(".")[0] for p in _pyproject()["tool"]["setuptools"]["packages"]}


def _build_installs() -> list[list[str]]:
    """The arguments of every `pip install` the image's RUN instructions make."""
    installs = []
    for kind, args in _dockerfile():
        if kind != "RUN":
            continue
        for part in re.split(r"&&|;", args):
            words = shlex.split(part)
            if len(words) >= 2 and Path(words[0]).name == "pip" and words[1] == "install":
                installs.append(words[2:])
    return installs


# ----------------------------------------------------------- .dockerignore matching


def _pattern_regex(pattern: str) -> str:
    """Docker's .dockerignore glob as a regex: `*` and `?` stay within one path
    segment, `**` spans any number of segments (`**/` also none)."""
    regex = ""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*" and pattern[i + 1 : i + 2] == "*":
            i += 1
            if pattern[i + 1 : i + 2] == "/":
                i += 1
            regex += ".*" if i + 1 >= len(pattern) else "(.*/)?"
        elif char == "*":
            regex += "[^/]*"
        elif char == "?":
            regex += "[^/]"
        elif char == "[":
            end = pattern.index("]", i)
            regex += pattern[i : end + 1]
            i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            regex += re.escape(pattern[i])
        else:
            regex += re.escape(char)
        i += 1
    return f"^{regex}$"


def _ignore_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(is an exception `!...`, regex) per rule, in file order."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = posixpath.normpath(line.removeprefix("!").strip().lstrip("/"))
        rules.append((exception, re.compile(_pattern_regex(pattern))))
    return rules


def _ignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether Docker leaves `path` (relative, with /) out of the build context: the
    last rule matching the path or one of its parent folders decides."""
    parts = path.split("/")
    candidates = [path] + ["/".join(parts[:n]) for n in range(1, len(parts))]
    ignored = False
    for exception, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            ignored = not exception
    return ignored


@cache
def _dockerignore() -> tuple[tuple[bool, re.Pattern[str]], ...]:
    return tuple(_ignore_rules(DOCKERIGNORE.read_text()))


def _context_files(source: str) -> Iterator[str]:
    """Files under `source` (relative to the repository) that reach the build context."""
    rules = list(_dockerignore())
    base = ROOT / source
    paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
    for path in paths:
        relative = path.relative_to(ROOT).as_posix()
        if not _ignored(relative, rules):
            yield relative


# --------------------------------------------------------------------------- all YAML


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


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_every_yaml_file_parses(path: Path) -> None:
    documents = _load_all(path)
    assert documents, f"{path} holds no YAML document"
    for document in documents:
        assert isinstance(document, dict)


# --------------------------------------------------------------------------- Compose


def test_compose_has_the_stack() -> None:
    services = _compose()["services"]
    assert {"postgres", "minio", "migrate", "registry"} <= set(services)


def test_registry_starts_after_a_successful_migration() -> None:
    registry = _service("registry")["depends_on"]
    assert registry["migrate"]["condition"] == "service_completed_successfully"
    assert registry["minio"]["condition"] == "service_healthy"
    assert _service("migrate")["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_migrate_runs_db_upgrade_with_the_registry_image() -> None:
    migrate, registry = _service("migrate"), _service("registry")
    assert migrate["command"] == ["db", "upgrade"]
    assert migrate["image"] == registry["image"]
    assert migrate["build"] == registry["build"]
    database_url = migrate["environment"]["REGISTRY_DATABASE_URL"]
    assert database_url == registry["environment"]["REGISTRY_DATABASE_URL"]
    assert database_url.startswith("postgresql+psycopg2://")
    assert "@postgres:5432/" in database_url


def test_compose_builds_the_image_from_the_repository_root() -> None:
    build = _service("registry")["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE


def test_compose_health_checks() -> None:
    services = _compose()["services"]
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
    assert _seconds(registry["timeout"]) > healthcheck.DEFAULT_TIMEOUT
    # A one-shot job must not inherit the image's server health check.
    assert services["migrate"]["healthcheck"] == {"disable": True}


def test_every_dependency_condition_can_be_met() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        for dependency, spec in service.get("depends_on", {}).items():
            target = services[dependency]
            if spec["condition"] == "service_healthy":
                check = target.get("healthcheck")
                assert check and not check.get("disable"), f"{name} waits on {dependency}"
            elif spec["condition"] == "service_completed_successfully":
                assert target.get("restart", "no") == "no", f"{dependency} must be one-shot"


def test_compose_registry_listens_on_the_published_port() -> None:
    registry = _service("registry")
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
        url = _service("registry")["environment"]["REGISTRY_ARTIFACT_STORE"]
        url = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", url)  # Compose's defaults
        endpoint = "minio:9000"
    else:
        url = _manifests()["ConfigMap"]["data"]["REGISTRY_ARTIFACT_STORE"]
        endpoint = url.split("endpoint=")[1].split("&")[0]
    for name in S3_CREDENTIAL_VARS:
        monkeypatch.setenv(name, "placeholder")
    store = from_url(url)  # builds a client; no network traffic
    assert isinstance(store, S3ArtifactStore)
    assert store.bucket == "models"
    assert store.endpoint == endpoint
    assert store.secure is False


def test_compose_stop_grace_covers_the_server_drain() -> None:
    assert _seconds(_service("registry")["stop_grace_period"]) > SERVER_GRACE_SECONDS


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
    assert _ignored("deploy/.env", list(_dockerignore()))


# --------------------------------------------------------------------------- the image


def test_the_image_runs_the_console_script_the_tests_run() -> None:
    assert _entrypoint() == ["registry-server"]
    scripts = _pyproject()["project"]["scripts"]
    assert scripts["registry-server"] == "registry_server.cli:main"
    from registry_server.cli import main

    assert callable(main)


def test_the_image_serves_on_the_exposed_port_and_checks_it() -> None:
    (command,) = _final_stage("CMD")
    assert _exec_form(command) == ["serve", "--listen", f"0.0.0.0:{PORT}"]
    assert _final_stage("EXPOSE") == [str(PORT)]
    (check,) = _final_stage("HEALTHCHECK")
    options, _, probe = check.partition(" CMD ")
    assert "--timeout=" in options
    assert _exec_form(probe) == ["python", "-m", "registry_server.healthcheck", f"127.0.0.1:{PORT}"]


def test_the_image_is_python_311_slim_and_runs_as_a_numeric_non_root_user() -> None:
    defaults = dict(a.split("=", 1) for kind, a in _dockerfile() if kind == "ARG" and "=" in a)
    (final_from,) = _final_stage("FROM")
    base = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], final_from.split()[0])
    assert base == "python:3.11-slim"
    assert _pyproject()["project"]["requires-python"] == ">=3.11"
    (user,) = _final_stage("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "Kubernetes' runAsNonRoot needs a numeric uid"


def test_the_image_copies_only_what_the_context_keeps() -> None:
    copies = _build_stage_copies()
    assert copies
    for sources, destination in copies:
        for source in sources:
            assert not _ignored(source.rstrip("/"), list(_dockerignore())), source
            # The wheel test below rebuilds the package from the same layout.
            assert destination in {"./", source}, (source, destination)


def test_the_image_copies_every_package_the_project_declares() -> None:
    copied = {source.rstrip("/") for sources, _ in _build_stage_copies() for source in sources}
    project = _pyproject()["project"]
    assert {"pyproject.toml", project["readme"]} <= copied
    # registry_api (the generated code both sides import) as much as the server and client.
    assert _package_folders() <= copied, _package_folders() - copied


def test_the_image_installs_the_project_with_the_server_extra() -> None:
    (install,) = _build_installs()
    targets = [word for word in install if not word.startswith("-")]
    assert targets == [".[server]"], install
    # The base install is the client alone; the server's libraries are in the extra.
    server_extra = " ".join(_pyproject()["project"]["optional-dependencies"]["server"]).lower()
    for library in ("sqlalchemy", "alembic", "psycopg2", "grpcio-health-checking", "minio"):
        assert library in server_extra, library
    base = " ".join(_pyproject()["project"]["dependencies"]).lower()
    assert "sqlalchemy" not in base and "alembic" not in base
    # The build fails at once if the installed console script does not start.
    assert any("registry-server --help" in args for kind, args in _dockerfile() if kind == "RUN")


# ---------------------------------------------------------------------- .dockerignore


@pytest.mark.parametrize(
    ("rules", "path", "ignored"),
    [
        ("*\n!src/\n", "src/pkg/a.py", False),
        ("*\n!src/\n", "notes.txt", True),
        ("*\n!src\n**/__pycache__/\n", "src/a/b/__pycache__/x.pyc", True),
        ("*.md\n!README.md\n", "README.md", False),
        ("*.md\n!README.md\n", "CHANGES.md", True),
        ("*.md\n", "docs/guide.md", False),
        ("**/*.md\n", "docs/guide.md", True),
        ("/build\n", "build/lib/x.py", True),
    ],
)
def test_dockerignore_matching_follows_docker(rules: str, path: str, ignored: bool) -> None:
    assert _ignored(path, _ignore_rules(rules)) is ignored


def test_dockerignore_keeps_what_pip_install_needs() -> None:
    rules = list(_dockerignore())
    project = _pyproject()["project"]
    needed = ["pyproject.toml", project["readme"]]
    package_dirs = _package_folders()
    assert {"registry_api", "registry_client", "registry_server", "migrations"} <= package_dirs
    for folder in sorted(package_dirs):
        needed += [
            p.relative_to(ROOT).as_posix()
            for p in (ROOT / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        ]
    kept_out = [path for path in needed if _ignored(path, rules)]
    assert not kept_out
    assert "migrations/env.py" in needed


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        "registry-data/registry.db",
        "deploy/.env",
        "tests/conftest.py",
        "registry_server/__pycache__/cli.cpython-311.pyc",
        "modelregistry.egg-info/PKG-INFO",
        ".pytest_cache/README.md",
    ],
)
def test_dockerignore_leaves_out_local_state(path: str) -> None:
    assert _ignored(path, list(_dockerignore()))


# ------------------------------------------------------ the package the image installs


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """A wheel built from exactly the files the image's build stage copies."""
    pytest.importorskip("setuptools")
    context = tmp_path_factory.mktemp("image-build-context")
    for sources, _ in _build_stage_copies():
        for source in sources:
            for relative in _context_files(source.rstrip("/")):
                target = context / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / relative, target)
    dist = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"),
            *("-q", "--disable-pip-version-check", "-w", str(dist), str(context)),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    (built,) = dist.glob("*.whl")
    return zipfile.ZipFile(built)


@pytest.mark.slow
def test_the_wheel_has_every_package_and_the_console_scripts(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for top in _top_level_packages():
        for init in (ROOT / top).rglob("__init__.py"):
            assert init.relative_to(ROOT).as_posix() in names
        assert f"{top}/py.typed" in names, top
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    scripts = wheel.read(entry_points).decode()
    assert "registry-server = registry_server.cli:main" in scripts
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    assert "Provides-Extra: server" in wheel.read(metadata).decode()


@pytest.mark.slow
def test_the_wheel_ships_the_migrations(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "registry_server/migrations/env.py" in names
    assert "registry_server/migrations/script.py.mako" in names
    assert "registry_server/migrations/versions/0001_initial_schema.py" in names
    for version in (ROOT / "migrations" / "versions").glob("*.py"):
        assert f"registry_server/migrations/versions/{version.name}" in names


# --------------------------------------------------------------------------- Kubernetes


@cache
def _kustomization() -> dict[str, Any]:
    return yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())


@cache
def _manifests() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object under deploy/kubernetes, by kind (one of each here)."""
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in _load_all(path):
            assert document["kind"] not in objects, f"second {document['kind']} in {path}"
            objects[document["kind"]] = document
    return objects


def _container(kind: str) -> dict[str, Any]:
    (container,) = _manifests()[kind]["spec"]["template"]["spec"]["containers"]
    return container


def _argv(container: dict[str, Any]) -> list[str]:
    """What the container runs: its command (default: the image's ENTRYPOINT) and args."""
    return list(container.get("command", _entrypoint())) + list(container.get("args", []))


def test_kustomization_lists_every_manifest() -> None:
    files = {p.name for p in KUBERNETES.iterdir() if p.suffix in {".yaml", ".yml"}}
    resources = _kustomization()["resources"]
    assert len(resources) == len(set(resources))
    assert set(resources) == files - {"kustomization.yaml"}


def test_every_manifest_is_in_the_kustomization_namespace() -> None:
    namespace = _kustomization()["namespace"]
    for kind, document in _manifests().items():
        if kind == "Namespace":
            assert document["metadata"]["name"] == namespace
        else:
            assert document["metadata"]["namespace"] == namespace, kind


def test_deployment_probes_the_port_the_service_targets_and_the_server_listens_on() -> None:
    deployment, service = _manifests()["Deployment"], _manifests()["Service"]
    container = _container("Deployment")
    assert deployment["spec"]["replicas"] == 3
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": PORT}
    # The server listens where the ConfigMap (or a --listen flag) says.
    argv = _argv(container)
    listen = (
        argv[argv.index("--listen") + 1]
        if "--listen" in argv
        else _manifests()["ConfigMap"]["data"]["REGISTRY_LISTEN"]
    )
    assert listen.rpartition(":")[2] == str(PORT)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        spec = container[probe]
        assert set(spec) & {"httpGet", "tcpSocket", "exec"} == set(), probe
        assert spec["grpc"]["port"] == PORT, probe
    assert container["readinessProbe"]["grpc"]["service"] == SERVER_SERVICE
    (service_port,) = service["spec"]["ports"]
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert service_port["name"] == "grpc"
    assert service_port["port"] == PORT
    target = service_port["targetPort"]
    assert (ports[target] if isinstance(target, str) else target) == PORT


def test_selectors_match_the_server_pods() -> None:
    deployment = _manifests()["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (
        deployment["spec"]["selector"]["matchLabels"],
        _manifests()["Service"]["spec"]["selector"],
        _manifests()["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items()
    job_labels = _manifests()["Job"]["spec"]["template"]["metadata"]["labels"]
    assert not _manifests()["Service"]["spec"]["selector"].items() <= job_labels.items()


def test_deployment_serves_with_settings_from_the_configmap_and_secret() -> None:
    container = _container("Deployment")
    assert _argv(container)[:2] == ["registry-server", "serve"]
    sources = {next(iter(s)): next(iter(s.values()))["name"] for s in container["envFrom"]}
    assert sources == {
        "configMapRef": _manifests()["ConfigMap"]["metadata"]["name"],
        "secretRef": _manifests()["Secret"]["metadata"]["name"],
    }
    assert container["image"] == _container("Job")["image"]
    # Both run the image the kustomization retags, at the tag it sets.
    (image,) = _kustomization()["images"]
    name, _, tag = container["image"].partition(":")
    assert (name, tag) == (image["name"], image["newTag"])
    assert tag == _pyproject()["project"]["version"]


def test_migration_job_runs_db_upgrade_with_the_database_secret() -> None:
    job = _manifests()["Job"]
    container = _container("Job")
    assert _argv(container) == ["registry-server", "db", "upgrade"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in {"Never", "OnFailure"}
    (env,) = container["env"]
    assert env["name"] == "REGISTRY_DATABASE_URL"
    reference = env["valueFrom"]["secretKeyRef"]
    secret = _manifests()["Secret"]
    assert reference["name"] == secret["metadata"]["name"]
    assert reference["key"] in secret["stringData"]


def test_pods_run_as_the_image_user_and_cannot_escalate() -> None:
    (user,) = _final_stage("USER")
    for kind in ("Deployment", "Job"):
        pod = _manifests()[kind]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert str(pod["securityContext"]["runAsUser"]) == user.split(":")[0]
        assert pod["automountServiceAccountToken"] is False
        container = _container(kind)
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound]), (kind, bound)


def test_shutdown_drains_within_the_grace_period() -> None:
    pod = _manifests()["Deployment"]["spec"]["template"]["spec"]
    pre_stop = _container("Deployment")["lifecycle"]["preStop"]
    command = pre_stop["exec"]["command"]
    assert command[0] == "sleep"
    sleep = float(command[1])
    assert sleep > 0
    assert pod["terminationGracePeriodSeconds"] >= sleep + SERVER_GRACE_SECONDS
    strategy = _manifests()["Deployment"]["spec"]["strategy"]
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_the_secret_holds_placeholders_only() -> None:
    secret = _manifests()["Secret"]
    assert "data" not in secret
    assert set(secret["stringData"]) == {
        "REGISTRY_DATABASE_URL",
        *S3_CREDENTIAL_VARS,
        BOOTSTRAP_VAR,
    }
    for key, value in secret["stringData"].items():
        assert "CHANGE-ME" in value, key


def test_configmap_holds_no_secret() -> None:
    data = _manifests()["ConfigMap"]["data"]
    assert set(data) == {
        "REGISTRY_LISTEN",
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
    assert kinds == sorted(_manifests())


# ------------------------------------------------------------- settings the server reads


def _registry_env_names() -> set[str]:
    names = set(_service("registry")["environment"]) | set(_service("migrate")["environment"])
    names |= set(_manifests()["ConfigMap"]["data"]) | set(_manifests()["Secret"]["stringData"])
    names |= {env["name"] for env in _container("Job").get("env", [])}
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


# ----------------------------------------------------------------- authentication


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"([A-Z_][A-Z0-9_]*)=(.*)$", line.strip())
        if match:
            values[match.group(1)] = match.group(2)
    return values


def _interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?message}."""

    def one(match: re.Match[str]) -> str:
        name, modifier, rest = match.group(1), match.group(2) or "", match.group(3) or ""
        if name in variables:
            return variables[name]
        assert modifier in (":-", "-"), f"${{{name}}} is required and not set"
        return rest

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?])?([^}]*)\}", one, value)


def _image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in _final_stage("ENV"):
        for word in shlex.split(args):
            name, _, value = word.partition("=")
            env[name] = value
    return env


def _listen(argv: list[str], env: dict[str, str]) -> str | None:
    return argv[argv.index("--listen") + 1] if "--listen" in argv else env.get("REGISTRY_LISTEN")


def _deployed_servers() -> dict[str, tuple[list[str], dict[str, str]]]:
    """Each way deploy/ runs `serve`: (its arguments, its REGISTRY_* environment),
    with the secrets an operator fills in (placeholders replaced by real values)."""
    filled = {
        name: (secrets.token_urlsafe(32) if "CHANGE-ME" in value else value)
        for name, value in _env_example().items()
    }
    registry = _service("registry")
    compose_env = {k: _interpolate(str(v), filled) for k, v in registry["environment"].items()}
    kubernetes_env = dict(_manifests()["ConfigMap"]["data"])
    for name, value in _manifests()["Secret"]["stringData"].items():
        kubernetes_env[name] = secrets.token_urlsafe(32) if value == "CHANGE-ME" else value
    image_env = _image_env()
    image_argv = _exec_form(_final_stage("CMD")[0])
    return {
        "compose": (list(registry["command"]), {**image_env, **compose_env}),
        "kubernetes": (_argv(_container("Deployment"))[1:], {**image_env, **kubernetes_env}),
        "image": (image_argv, image_env),
    }


@pytest.mark.parametrize("where", ["compose", "kubernetes", "image"])
def test_every_deployment_requires_authentication_so_the_server_starts(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv, env = _deployed_servers()[where]
    assert argv[0] == "serve"
    for name in list(os.environ):
        if name.startswith("REGISTRY_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("REGISTRY_"):
            monkeypatch.setenv(name, value)
    config = ServerConfig.from_env("sqlite://", listen=_listen(argv, env))
    assert config.listen == f"0.0.0.0:{PORT}"
    assert config.require_auth is True
    assert "--insecure-allow-anonymous" not in argv and not config.insecure_allow_anonymous
    config.check_exposure()  # what `serve` checks before it starts
    if where != "image":
        assert config.bootstrap_admin_token  # a first admin without exec'ing into a container


def test_the_bootstrap_token_is_a_required_secret_and_its_placeholders_are_refused() -> None:
    registry = _service("registry")
    assert registry["environment"]["REGISTRY_REQUIRE_AUTH"] == "true"
    reference = registry["environment"][BOOTSTRAP_VAR]
    assert reference.startswith(f"${{{BOOTSTRAP_VAR}:?")  # Compose stops when it is unset
    assert BOOTSTRAP_VAR not in _service("migrate")["environment"]  # the job needs no token
    assert _image_env()["REGISTRY_REQUIRE_AUTH"] == "true"
    assert BOOTSTRAP_VAR not in _image_env()  # never baked into the image
    placeholders = [
        _env_example()[BOOTSTRAP_VAR],
        _manifests()["Secret"]["stringData"][BOOTSTRAP_VAR],
    ]
    for placeholder in placeholders:
        assert "CHANGE-ME" in placeholder
        # A forgotten placeholder must not become a well-known admin token.
        with pytest.raises(ConfigError, match=BOOTSTRAP_VAR):
            ServerConfig(database_url="sqlite://", bootstrap_admin_token=placeholder)
