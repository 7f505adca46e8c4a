"""TLS and mutual TLS: the real server, client, CLI and health check, with throwaway certificates.

Each negative case has a positive twin on the same server, so a test cannot
pass because the server is down or TLS was silently switched off: plaintext
must fail where TLS works, a foreign CA must fail where ours works, and
without a client certificate must fail where with one works.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from support.tls import TlsFiles, make_tls_files

from registry_client import RegistryClient, Unavailable
from registry_client.cli import main as registry_cli
from registry_server.cli import main as server_cli
from registry_server.config import ConfigError, ServerConfig, TlsFileError
from registry_server.server import SERVICE_NAME, RunningServer, start

TLS_VARIABLES = (
    "REGISTRY_TLS",
    "REGISTRY_TLS_CA",
    "REGISTRY_TLS_CLIENT_CERT",
    "REGISTRY_TLS_CLIENT_KEY",
    "REGISTRY_TLS_SERVER_NAME",
    "REGISTRY_TLS_CERT",
    "REGISTRY_TLS_KEY",
    "REGISTRY_TLS_CLIENT_CA",
)


@pytest.fixture(autouse=True)
def _no_tls_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own REGISTRY_TLS_* settings must not change what these tests see."""
    for name in (*TLS_VARIABLES, "REGISTRY_TARGET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("pki"))


def _config(folder: Path, **tls: str) -> ServerConfig:
    return ServerConfig(
        database_url=f"sqlite:///{folder / 'registry.db'}",
        artifact_store=str(folder / "artifacts"),
        listen="127.0.0.1:0",
        workers=4,
        **tls,
    )


def _serve(folder: Path, **tls: str) -> Iterator[str]:
    running: RunningServer = start(_config(folder, **tls))
    try:
        yield f"127.0.0.1:{running.port}"
    finally:
        running.stop(grace=1)


@pytest.fixture(scope="module")
def tls_target(pki: TlsFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with TLS, certificate for 127.0.0.1 and localhost."""
    yield from _serve(
        tmp_path_factory.mktemp("tls"), tls_cert=str(pki.server_cert), tls_key=str(pki.server_key)
    )


@pytest.fixture(scope="module")
def mtls_target(pki: TlsFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server that requires client certificates signed by pki.client_ca."""
    yield from _serve(
        tmp_path_factory.mktemp("mtls"),
        tls_cert=str(pki.server_cert),
        tls_key=str(pki.server_key),
        tls_client_ca=str(pki.client_ca),
    )


@pytest.fixture(scope="module")
def named_pki(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A server certificate that does not name 127.0.0.1, as most real ones."""
    return make_tls_files(tmp_path_factory.mktemp("named-pki"), ("registry.internal",))


@pytest.fixture(scope="module")
def named_target(named_pki: TlsFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve(
        tmp_path_factory.mktemp("named"),
        tls_cert=str(named_pki.server_cert),
        tls_key=str(named_pki.server_key),
    )


def _round_trip(client: RegistryClient, name: str) -> None:
    """Write and read through the server: create a model and a version, resolve it."""
    client.create_registered_model(name)
    version = client.create_model_version(name, source="s3://models/tls/1")
    resolved = client.resolve(f"models:/{name}/latest")
    assert resolved.resolved_uri == f"models:/{name}/{version.version}"


def _refused(client: RegistryClient, name: str) -> Unavailable:
    with client, pytest.raises(Unavailable) as info:
        client.get_registered_model(name)
    assert info.value.code == grpc.StatusCode.UNAVAILABLE
    return info.value


# ------------------------------------------------------------------------ server TLS


def test_a_client_trusting_the_ca_works_end_to_end(
    tls_target: str, pki: TlsFiles, model_name: str
) -> None:
    with RegistryClient(tls_target, tls_ca=pki.ca, actor="tls-actor") as client:
        assert client.tls is True
        _round_trip(client, model_name)
        # Metadata (the actor; a bearer token travels the same way) reaches the
        # server over TLS: the event records who made the change.
        (event, *_) = client.list_model_events(model_name).events
        assert event.actor == "tls-actor"


def test_localhost_works_too_and_the_ca_can_come_from_the_environment(
    tls_target: str, pki: TlsFiles, model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRY_TLS_CA", str(pki.ca))
    port = tls_target.rpartition(":")[2]
    with RegistryClient(f"localhost:{port}") as client:
        assert client.tls is True
        _round_trip(client, model_name)


def test_a_plaintext_client_is_refused_by_a_tls_server(tls_target: str, model_name: str) -> None:
    client = RegistryClient(tls_target, max_attempts=1, timeout=5)
    assert client.tls is False  # plaintext stays the default
    error = _refused(client, model_name)
    assert str(error).startswith("UNAVAILABLE: ")


def test_a_tls_client_is_refused_by_a_plaintext_server(
    sqlite_server: RunningServer, pki: TlsFiles, model_name: str
) -> None:
    target = f"127.0.0.1:{sqlite_server.port}"
    error = _refused(RegistryClient(target, tls_ca=pki.ca, max_attempts=1, timeout=5), model_name)
    assert "handshake" in error.message.lower()
    with RegistryClient(target) as plaintext, pytest.raises(Exception, match="NOT_FOUND"):
        plaintext.get_registered_model(model_name)


@pytest.mark.parametrize("trust", ["other CA", "system roots"])
def test_a_client_not_trusting_the_servers_ca_is_refused(
    tls_target: str, pki: TlsFiles, model_name: str, trust: str
) -> None:
    tls = {"tls_ca": pki.other_ca} if trust == "other CA" else {"tls": True}
    error = _refused(RegistryClient(tls_target, max_attempts=1, timeout=5, **tls), model_name)
    assert "CERTIFICATE_VERIFY_FAILED" in error.message


def test_the_certificate_must_name_the_server(
    named_target: str, named_pki: TlsFiles, model_name: str
) -> None:
    error = _refused(
        RegistryClient(named_target, tls_ca=named_pki.ca, max_attempts=1, timeout=5), model_name
    )
    assert "Hostname Verification" in error.message
    with RegistryClient(
        named_target, tls_ca=named_pki.ca, tls_server_name="registry.internal"
    ) as client:
        _round_trip(client, model_name)


# ------------------------------------------------------------------------ mutual TLS


def test_mutual_tls_admits_a_client_certificate_signed_by_the_client_ca(
    mtls_target: str, pki: TlsFiles, model_name: str
) -> None:
    with RegistryClient(
        mtls_target, tls_ca=pki.ca, tls_cert=pki.client_cert, tls_key=pki.client_key
    ) as client:
        _round_trip(client, model_name)


@pytest.mark.parametrize("certificate", ["none", "from another CA"])
def test_mutual_tls_refuses_other_clients(
    mtls_target: str, pki: TlsFiles, model_name: str, certificate: str
) -> None:
    pair = (
        {}
        if certificate == "none"
        else {"tls_cert": pki.other_client_cert, "tls_key": pki.other_client_key}
    )
    _refused(
        RegistryClient(mtls_target, tls_ca=pki.ca, max_attempts=1, timeout=5, **pair), model_name
    )


def test_the_client_certificate_can_come_from_the_environment(
    mtls_target: str, pki: TlsFiles, model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRY_TLS_CA", str(pki.ca))
    monkeypatch.setenv("REGISTRY_TLS_CLIENT_CERT", str(pki.client_cert))
    monkeypatch.setenv("REGISTRY_TLS_CLIENT_KEY", str(pki.client_key))
    # The server's own variables are not the client's: they must not be presented.
    monkeypatch.setenv("REGISTRY_TLS_CERT", str(pki.other_client_cert))
    monkeypatch.setenv("REGISTRY_TLS_KEY", str(pki.other_client_key))
    with RegistryClient(mtls_target) as client:
        _round_trip(client, model_name)


# ------------------------------------------------------------------------ the CLI


def test_the_cli_connects_with_tls_ca(
    tls_target: str, pki: TlsFiles, model_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--target", tls_target, "--tls-ca", str(pki.ca)]
    assert registry_cli([*base, "models", "create", model_name]) == 0, capsys.readouterr().err
    assert registry_cli([*base, "models", "get", model_name]) == 0
    assert model_name in capsys.readouterr().out
    # Without TLS the same command fails as a refused call (exit 1), saying why.
    assert (
        registry_cli(["--target", tls_target, "--timeout", "3", "models", "get", model_name]) == 1
    )
    # It waits for a server it can talk to (saying so), then gives up.
    waiting, error, hint = capsys.readouterr().err.split("\n", 2)
    assert waiting.startswith(f"waiting up to 2 s more for a registry server at {tls_target}")
    assert error.startswith("error: UNAVAILABLE: ")
    # The server is there, so the hint is about TLS, not about starting one.
    assert hint.startswith(f"hint: something listens at {tls_target} but closed the connection")
    assert "--tls" in hint and "registry-server serve" not in hint
    # With TLS but without the CA that signed the server's certificate.
    assert registry_cli(["--target", tls_target, "--timeout", "2", "--tls", "models", "list"]) == 1
    hint = capsys.readouterr().err.split("\nhint: ", 1)[1]
    assert hint.startswith(f"the TLS handshake with {tls_target} failed")
    assert "--tls-ca" in hint and "registry-server serve" not in hint


def test_the_cli_presents_a_client_certificate(
    mtls_target: str, pki: TlsFiles, model_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--target",
        mtls_target,
        "--tls-ca",
        str(pki.ca),
        "--tls-cert",
        str(pki.client_cert),
        "--tls-key",
        str(pki.client_key),
        "models",
        "create",
        model_name,
    ]
    assert registry_cli(argv) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--tls-cert", "{client_cert}"], "--tls-cert"),
        (["--tls-key", "{client_key}"], "--tls-key"),
        (["--no-tls", "--tls-ca", "{ca}"], "--tls-ca"),
        (["--tls-ca", "{missing}"], "--tls-ca"),
        (["--tls-ca", "{client_key}"], "--tls-ca"),
        (["--tls-cert", "{client_cert}", "--tls-key", "{server_key}"], "--tls-key"),
    ],
)
def test_the_cli_refuses_bad_tls_flags_naming_the_flag(
    pki: TlsFiles,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    named: str,
) -> None:
    paths = {name: str(getattr(pki, name)) for name in ("ca", "client_cert", "client_key")}
    paths |= {"server_key": str(pki.server_key), "missing": str(tmp_path / "missing.pem")}
    argv = [flag.format(**paths) for flag in flags]
    assert registry_cli(["--target", "127.0.0.1:1", *argv, "models", "get", "m"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"error: {named}: "), err


def test_the_cli_names_the_variable_a_bad_setting_came_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRY_TLS_CA", str(tmp_path / "missing.pem"))
    assert registry_cli(["--target", "127.0.0.1:1", "models", "get", "m"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --tls-ca (from $REGISTRY_TLS_CA): cannot read "), err


# ------------------------------------------------------------------------ the health check


def _healthcheck(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    """As Docker runs it: a subprocess, with the container's environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    return subprocess.run(
        [sys.executable, "-m", "registry_server.healthcheck", *argv],
        capture_output=True,
        text=True,
        timeout=30,
        env={**clean, **env},
    )


def test_the_healthcheck_speaks_tls(tls_target: str, pki: TlsFiles) -> None:
    result = _healthcheck(tls_target, "--tls-ca", str(pki.ca), "--service", SERVICE_NAME)
    assert result.returncode == 0, result.stderr
    plaintext = _healthcheck(tls_target, "--timeout", "2")
    assert plaintext.returncode == 1
    assert "UNAVAILABLE" in plaintext.stderr


def test_the_image_healthcheck_works_with_the_servers_tls_environment(
    named_target: str, named_pki: TlsFiles
) -> None:
    """The image's HEALTHCHECK passes no options: the server's own variables suffice,
    even for a certificate that does not name 127.0.0.1."""
    server_env = {
        "REGISTRY_TLS_CERT": str(named_pki.server_cert),
        "REGISTRY_TLS_KEY": str(named_pki.server_key),
    }
    result = _healthcheck(named_target, **server_env)
    assert result.returncode == 0, result.stderr
    # ... and it really checks the certificate: another one is refused.
    wrong = _healthcheck(named_target, "--tls-ca", str(named_pki.other_ca), **server_env)
    assert wrong.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in wrong.stderr


def test_the_healthcheck_presents_a_client_certificate_to_a_mutual_tls_server(
    mtls_target: str, pki: TlsFiles
) -> None:
    server_env = {
        "REGISTRY_TLS_CERT": str(pki.server_cert),
        "REGISTRY_TLS_KEY": str(pki.server_key),
        "REGISTRY_TLS_CLIENT_CA": str(pki.client_ca),
    }
    refused = _healthcheck(mtls_target, "--timeout", "2", **server_env)
    assert refused.returncode == 1
    assert "UNAVAILABLE" in refused.stderr
    result = _healthcheck(
        mtls_target,
        **server_env,
        REGISTRY_TLS_CLIENT_CERT=str(pki.client_cert),
        REGISTRY_TLS_CLIENT_KEY=str(pki.client_key),
    )
    assert result.returncode == 0, result.stderr


def test_the_healthcheck_refuses_bad_tls_flags(pki: TlsFiles) -> None:
    result = _healthcheck("127.0.0.1:1", "--tls-cert", str(pki.client_cert))
    assert result.returncode == 2
    assert "--tls-cert: needs --tls-key as well" in result.stderr


# ------------------------------------------------------------------------ server settings


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["--tls-cert", "c.pem"], {}, "--tls-cert ($REGISTRY_TLS_CERT) needs --tls-key"),
        (["--tls-key", "k.pem"], {}, "--tls-key ($REGISTRY_TLS_KEY) needs --tls-cert"),
        (["--tls-client-ca", "ca.pem"], {}, "--tls-client-ca ($REGISTRY_TLS_CLIENT_CA) needs"),
        ([], {"REGISTRY_TLS_CERT": "c.pem"}, "--tls-cert ($REGISTRY_TLS_CERT) needs --tls-key"),
        ([], {"REGISTRY_TLS_CLIENT_CA": "ca.pem"}, "--tls-client-ca"),
    ],
)
def test_serve_refuses_tls_settings_that_do_not_go_together(
    argv: list[str],
    env: dict[str, str],
    named: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    database = tmp_path / "registry.db"
    with pytest.raises(SystemExit) as info:
        server_cli(["serve", "--database-url", f"sqlite:///{database}", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: registry-server serve" in err
    assert named in err
    assert not database.exists()


def _bad_files(pki: TlsFiles, folder: Path) -> dict[str, tuple[dict[str, str], str]]:
    garbage = folder / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    good = {"tls_cert": str(pki.server_cert), "tls_key": str(pki.server_key)}
    return {
        "missing cert": ({**good, "tls_cert": str(folder / "nope.pem")}, "--tls-cert"),
        "key as cert": ({**good, "tls_cert": str(pki.server_key)}, "--tls-cert"),
        "broken cert": ({**good, "tls_cert": str(garbage)}, "--tls-cert"),
        "cert as key": ({**good, "tls_key": str(pki.server_cert)}, "--tls-key"),
        "someone else's key": ({**good, "tls_key": str(pki.client_key)}, "--tls-key"),
        "missing client CA": ({**good, "tls_client_ca": str(folder / "no.pem")}, "--tls-client-ca"),
        "broken client CA": ({**good, "tls_client_ca": str(garbage)}, "--tls-client-ca"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing cert",
        "key as cert",
        "broken cert",
        "cert as key",
        "someone else's key",
        "missing client CA",
        "broken client CA",
    ],
)
def test_start_refuses_unusable_tls_files_naming_the_flag(
    case: str, pki: TlsFiles, tmp_path: Path
) -> None:
    tls, flag = _bad_files(pki, tmp_path)[case]
    config = _config(tmp_path, **tls)
    with pytest.raises(TlsFileError, match=f"^{flag} ") as info:
        running = start(config)
        running.stop(grace=0)  # only reached if the check is missing
    assert not (tmp_path / "registry.db").exists(), "checked before the database is opened"
    assert repr(tls[flag[2:].replace("-", "_")]) in str(info.value)  # the file in question


@pytest.mark.slow
def test_serve_exits_1_on_an_unreadable_certificate(pki: TlsFiles, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "registry_server.cli",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            f"sqlite:///{tmp_path / 'registry.db'}",
            "--tls-cert",
            str(tmp_path / "missing.pem"),
            "--tls-key",
            str(pki.server_key),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")},
    )
    assert result.returncode == 1
    assert "registry-server: --tls-cert ($REGISTRY_TLS_CERT): cannot read " in result.stderr
    assert "No such file or directory" in result.stderr


def test_server_tls_settings_come_from_the_environment_and_default_to_plaintext(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ServerConfig.from_env().tls is False
    monkeypatch.setenv("REGISTRY_TLS_CERT", "/certs/tls.crt")
    monkeypatch.setenv("REGISTRY_TLS_KEY", "/certs/tls.key")
    monkeypatch.setenv("REGISTRY_TLS_CLIENT_CA", "/certs/clients.crt")
    config = ServerConfig.from_env()
    assert (config.tls_cert, config.tls_key, config.tls_client_ca) == (
        "/certs/tls.crt",
        "/certs/tls.key",
        "/certs/clients.crt",
    )
    assert ServerConfig.from_env(tls_cert="/other.crt").tls_cert == "/other.crt"
    with pytest.raises(ConfigError):
        ServerConfig(database_url="sqlite://", tls_cert="/certs/tls.crt")


# ------------------------------------------------------------------------ client arguments


def test_client_tls_arguments_are_checked_when_the_client_is_built(
    pki: TlsFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = "127.0.0.1:1"  # never contacted
    with pytest.raises(ValueError, match=r"^tls_cert: needs tls_key"):
        RegistryClient(target, tls_cert=pki.client_cert)
    with pytest.raises(ValueError, match=r"^tls_ca: given with tls=False"):
        RegistryClient(target, tls=False, tls_ca=pki.ca)
    with pytest.raises(ValueError, match=r"^tls_ca: cannot read "):
        RegistryClient(target, tls_ca=tmp_path / "missing.pem")
    with pytest.raises(
        ValueError, match=r"^tls_key: '.*' is not the private key of the certificate in tls_cert$"
    ):
        RegistryClient(target, tls_cert=pki.client_cert, tls_key=pki.other_client_key)
    with pytest.raises(ValueError, match="exclude each other"):
        RegistryClient(target, channel=grpc.insecure_channel(target), tls=True)
    monkeypatch.setenv("REGISTRY_TLS", "maybe")
    with pytest.raises(ValueError, match=r"^tls \(from \$REGISTRY_TLS\): expected"):
        RegistryClient(target)


@pytest.mark.parametrize(
    ("env", "tls", "expected"),
    [
        ({}, None, False),  # the embedded default: plaintext
        ({"REGISTRY_TLS": "1"}, None, True),
        ({"REGISTRY_TLS": "0", "REGISTRY_TLS_CA": "{ca}"}, None, False),
        ({"REGISTRY_TLS_CA": "{ca}"}, None, True),
        ({"REGISTRY_TLS_CA": "{ca}"}, False, False),  # an argument beats the environment
        ({"REGISTRY_TLS": "0"}, True, True),
        # The server's certificate is no reason for a client to use TLS.
        ({"REGISTRY_TLS_CERT": "{ca}", "REGISTRY_TLS_KEY": "{ca}"}, None, False),
    ],
)
def test_when_the_client_uses_tls(
    env: dict[str, str],
    tls: bool | None,
    expected: bool,
    pki: TlsFiles,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(ca=pki.ca))
    with RegistryClient("127.0.0.1:1", tls=tls) as client:
        assert client.tls is expected
