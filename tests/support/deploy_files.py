"""Reading the deployment files in deploy/ (and .dockerignore, pyproject.toml) as the
tools that run them would: Compose's services and durations, the Dockerfile's
instructions and stages, Docker's .dockerignore matching, the Kubernetes manifests.

There is no Docker engine or Kubernetes cluster in the test environment, so the
tests/test_deploy_*.py modules check these files by reading them.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from registry_server.config import ServerConfig

ROOT = Path(__file__).resolve().parent.parent.parent
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = DEPLOY / ".env.example"

PORT = 50051
# The HTTP side port (/metrics, /healthz) in the Kubernetes manifests and Compose.
HTTP_PORT = 9090
SERVER_SERVICE = "modelregistry.v1.ModelRegistry"
# Settings the server reads from its environment (registry_server/config.py).
SERVER_ENV_VARS = (
    "REGISTRY_DATABASE_URL",
    "REGISTRY_ARTIFACT_STORE",
    "REGISTRY_LISTEN",
    "REGISTRY_HTTP_LISTEN",
    "REGISTRY_WORKERS",
    "REGISTRY_PROCESSES",
    "REGISTRY_REQUIRE_AUTH",
    "REGISTRY_BOOTSTRAP_ADMIN_TOKEN",
)
BOOTSTRAP_VAR = "REGISTRY_BOOTSTRAP_ADMIN_TOKEN"
S3_CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
SERVER_GRACE_SECONDS = ServerConfig(database_url="sqlite://").grace_seconds


# --------------------------------------------------------------------------- helpers


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yml", ".yaml"})


def load_all_yaml(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


@cache
def compose_file() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def compose_service(name: str) -> dict[str, Any]:
    return compose_file()["services"][name]


def duration_seconds(duration: str | int) -> float:
    """Compose durations as used here: 20s, 1m30s, or a bare number of seconds."""
    if isinstance(duration, int):
        return float(duration)
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


@cache
def dockerfile_instructions() -> tuple[tuple[str, str], ...]:
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


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each starting with its FROM."""
    stages: list[list[tuple[str, str]]] = []
    for instruction in dockerfile_instructions():
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def final_stage(instruction: str) -> list[str]:
    return [args for kind, args in dockerfile_stages()[-1] if kind == instruction]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"not exec form (a JSON array): {args}"
    return value


def image_entrypoint() -> list[str]:
    (entrypoint,) = final_stage("ENTRYPOINT")
    return exec_form(entrypoint)


def build_stage_copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY from the build context (not --from a stage)."""
    copies = []
    for stage in dockerfile_stages():
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
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def package_folders() -> set[str]:
    """The repository folders the wheel's packages come from: each top-level package in
    [tool.setuptools] packages, plus the folders package-dir maps packages to."""
    setuptools = pyproject()["tool"]["setuptools"]
    mapped = {folder for folder in setuptools["package-dir"].values() if folder != "."}
    tops = {package.split(".")[0] for package in setuptools["packages"]}
    return tops | mapped


def top_level_packages() -> set[str]:
    return {p.split(".")[0] for p in pyproject()["tool"]["setuptools"]["packages"]}


def build_installs() -> list[list[str]]:
    """The arguments of every `pip install` the image's RUN instructions make."""
    installs = []
    for kind, args in dockerfile_instructions():
        if kind != "RUN":
            continue
        for part in re.split(r"&&|;", args):
            words = shlex.split(part)
            if len(words) >= 2 and Path(words[0]).name == "pip" and words[1] == "install":
                installs.append(words[2:])
    return installs


# ----------------------------------------------------------- .dockerignore matching


def pattern_regex(pattern: str) -> str:
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


def ignore_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(is an exception `!...`, regex) per rule, in file order."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = posixpath.normpath(line.removeprefix("!").strip().lstrip("/"))
        rules.append((exception, re.compile(pattern_regex(pattern))))
    return rules


def is_ignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
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
def dockerignore_rules() -> tuple[tuple[bool, re.Pattern[str]], ...]:
    return tuple(ignore_rules(DOCKERIGNORE.read_text()))


def context_files(source: str) -> Iterator[str]:
    """Files under `source` (relative to the repository) that reach the build context."""
    rules = list(dockerignore_rules())
    base = ROOT / source
    paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
    for path in paths:
        relative = path.relative_to(ROOT).as_posix()
        if not is_ignored(relative, rules):
            yield relative


# --------------------------------------------------------------------------- Kubernetes


@cache
def kustomization() -> dict[str, Any]:
    return yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())


@cache
def manifests() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object under deploy/kubernetes, by kind (one of each here)."""
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in load_all_yaml(path):
            assert document["kind"] not in objects, f"second {document['kind']} in {path}"
            objects[document["kind"]] = document
    return objects


def pod_container(kind: str) -> dict[str, Any]:
    (container,) = manifests()[kind]["spec"]["template"]["spec"]["containers"]
    return container


def container_argv(container: dict[str, Any]) -> list[str]:
    """What the container runs: its command (default: the image's ENTRYPOINT) and args."""
    return list(container.get("command", image_entrypoint())) + list(container.get("args", []))
