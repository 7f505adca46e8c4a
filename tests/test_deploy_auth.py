"""Every way deploy/ runs the server (Compose, Kubernetes, the image alone) listens on
0.0.0.0, so each requires authentication (which the server insists on) and gets its
bootstrap admin token from a secret that ships as a placeholder the server refuses.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex

import pytest
from support.deploy_files import (
    BOOTSTRAP_VAR,
    ENV_EXAMPLE,
    PORT,
    compose_service,
    container_argv,
    exec_form,
    final_stage,
    manifests,
    pod_container,
)

from registry_server.config import ConfigError, ServerConfig


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
    for args in final_stage("ENV"):
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
    registry = compose_service("registry")
    compose_env = {k: _interpolate(str(v), filled) for k, v in registry["environment"].items()}
    kubernetes_env = dict(manifests()["ConfigMap"]["data"])
    for name, value in manifests()["Secret"]["stringData"].items():
        kubernetes_env[name] = secrets.token_urlsafe(32) if value == "CHANGE-ME" else value
    image_env = _image_env()
    image_argv = exec_form(final_stage("CMD")[0])
    return {
        "compose": (list(registry["command"]), {**image_env, **compose_env}),
        "kubernetes": (
            container_argv(pod_container("Deployment"))[1:],
            {**image_env, **kubernetes_env},
        ),
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
    registry = compose_service("registry")
    assert registry["environment"]["REGISTRY_REQUIRE_AUTH"] == "true"
    reference = registry["environment"][BOOTSTRAP_VAR]
    assert reference.startswith(f"${{{BOOTSTRAP_VAR}:?")  # Compose stops when it is unset
    assert BOOTSTRAP_VAR not in compose_service("migrate")["environment"]  # the job needs no token
    assert _image_env()["REGISTRY_REQUIRE_AUTH"] == "true"
    assert BOOTSTRAP_VAR not in _image_env()  # never baked into the image
    placeholders = [
        _env_example()[BOOTSTRAP_VAR],
        manifests()["Secret"]["stringData"][BOOTSTRAP_VAR],
    ]
    for placeholder in placeholders:
        assert "CHANGE-ME" in placeholder
        # A forgotten placeholder must not become a well-known admin token.
        with pytest.raises(ConfigError, match=BOOTSTRAP_VAR):
            ServerConfig(database_url="sqlite://", bootstrap_admin_token=placeholder)
