"""`python -m registry_server.healthcheck`, the command the Compose health checks run.

It runs as a subprocess, exactly as Docker runs it inside the container, so the
exit status and stderr are what Docker sees.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.net import free_port

from registry_server.config import ServerConfig
from registry_server.healthcheck import check, default_target
from registry_server.server import SERVICE_NAME, start


def _healthcheck(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry_server.healthcheck", *argv],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_serving_server_exits_0(target: str) -> None:
    result = _healthcheck(target)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_the_registry_service_is_serving_too(target: str) -> None:
    assert SERVICE_NAME == "modelregistry.v1.ModelRegistry"
    result = _healthcheck(target, "--service", SERVICE_NAME, "--timeout", "5")
    assert result.returncode == 0, result.stderr


def test_an_unknown_service_exits_1(target: str) -> None:
    result = _healthcheck(target, "--service", "no.such.Service")
    assert result.returncode == 1
    assert "NOT_FOUND" in result.stderr
    assert "no.such.Service" in result.stderr


def test_nothing_listening_exits_1() -> None:
    port = free_port()
    result = _healthcheck(f"127.0.0.1:{port}", "--timeout", "2")
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr
    assert "UNAVAILABLE" in result.stderr


def test_a_draining_server_is_not_serving(tmp_path: Path) -> None:
    """After SIGTERM the server reports NOT_SERVING, so Docker stops routing to it."""
    running = start(
        ServerConfig(
            database_url=f"sqlite:///{tmp_path / 'registry.db'}",
            artifact_store=str(tmp_path / "artifacts"),
            listen="127.0.0.1:0",
        )
    )
    try:
        target = f"127.0.0.1:{running.port}"
        assert check(target) == (True, "SERVING")
        running.health.enter_graceful_shutdown()
        assert check(target) == (False, "NOT_SERVING")
        assert check(target, SERVICE_NAME) == (False, "NOT_SERVING")
    finally:
        running.stop(grace=1)


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("", "127.0.0.1:50051"),
        ("0.0.0.0:50051", "127.0.0.1:50051"),
        ("[::]:6000", "127.0.0.1:6000"),
        ("127.0.0.1:7000", "127.0.0.1:7000"),
        ("registry.internal:50051", "registry.internal:50051"),
        ("8080", "127.0.0.1:8080"),
    ],
)
def test_default_target_follows_the_listen_address(listen: str, expected: str) -> None:
    assert default_target(listen) == expected


def test_default_target_reads_registry_listen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_LISTEN", "0.0.0.0:6123")
    assert default_target() == "127.0.0.1:6123"
    monkeypatch.delenv("REGISTRY_LISTEN")
    assert default_target() == "127.0.0.1:50051"


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("registry.internal", "10.0.0.7"), "registry.internal"),
        (("10.0.0.7",), "10.0.0.7"),
        (("*.registry.svc",), "healthcheck.registry.svc"),
    ],
)
def test_the_check_names_the_server_as_its_certificate_does(
    tmp_path: Path, names: tuple[str, ...], expected: str
) -> None:
    """The check verifies the server's own certificate under a name it carries."""
    import trustme

    from registry_server.healthcheck import certificate_name

    cert = trustme.CA().issue_cert(*names)
    path = tmp_path / "server.pem"
    cert.cert_chain_pems[0].write_to_path(str(path))
    assert certificate_name(str(path)) == expected


def test_an_unreadable_certificate_gives_no_name(tmp_path: Path) -> None:
    from registry_server.healthcheck import certificate_name

    (tmp_path / "junk.pem").write_text("not a certificate")
    assert certificate_name(str(tmp_path / "junk.pem")) is None
    assert certificate_name(str(tmp_path / "missing.pem")) is None
