"""Access control from the outside: when the server agrees to start, the
bootstrap admin token, `registry-server tokens ...` on the database, and the
`registry` command line (`tokens`, `access`, `whoami`, --token).

The authorization rules themselves are tested in test_access_matrix.py,
test_access_scenarios.py and test_access_tokens.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.auth import AuthServer, auth_server, client_for, start_auth_server

from registry_client import Unauthenticated
from registry_client.cli import main as registry_main
from registry_server.cli import main as server_main
from registry_server.config import ConfigError, ServerConfig
from registry_server.domain.access import Role
from registry_server.domain.errors import Unauthenticated as ServerUnauthenticated
from registry_server.domain.tokens import Authenticator, TokenService, hash_secret
from registry_server.server import prepare_database, start
from registry_server.store import access as token_store
from registry_server.store.schema import access_tokens

BOOTSTRAP = "bootstrap-secret-for-tests-0123456789abcdef"  # 32+ characters

Run = Callable[..., tuple[int, str, str]]


def _sqlite(folder: Path) -> str:
    return f"sqlite:///{folder / 'registry.db'}"


# --------------------------------------------------------------------------- start rules


@pytest.mark.parametrize(
    ("listen", "exposed"),
    [
        ("127.0.0.1:50051", False),
        ("127.0.0.2:0", False),
        ("localhost:50051", False),
        ("[::1]:50051", False),
        ("0.0.0.0:50051", True),
        ("[::]:50051", True),
        (":50051", True),
        ("10.1.2.3:50051", True),
        ("registry.internal:50051", True),
    ],
)
def test_only_loopback_may_serve_without_authentication(listen: str, exposed: bool) -> None:
    anonymous = ServerConfig(database_url="sqlite://", listen=listen)
    if exposed:
        with pytest.raises(ConfigError, match="--require-auth") as refused:
            anonymous.check_exposure()
        assert listen in str(refused.value)
        assert "--insecure-allow-anonymous" in str(refused.value)
    else:
        anonymous.check_exposure()
    ServerConfig(database_url="sqlite://", listen=listen, require_auth=True).check_exposure()
    ServerConfig(
        database_url="sqlite://", listen=listen, insecure_allow_anonymous=True
    ).check_exposure()


def test_start_refuses_a_network_address_without_authentication(tmp_path: Path) -> None:
    config = ServerConfig(
        database_url=_sqlite(tmp_path), artifact_store=str(tmp_path / "a"), listen="0.0.0.0:0"
    )
    with pytest.raises(ConfigError, match="without authentication"):
        start(config)
    assert not (tmp_path / "registry.db").exists()  # refused before opening anything


@pytest.mark.slow
def test_serve_exits_2_on_a_network_address_without_authentication(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    command = [sys.executable, "-m", "registry_server.cli", "serve", "--listen", "0.0.0.0:0"]
    command += ["--database-url", _sqlite(tmp_path)]
    try:
        result = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("`serve --listen 0.0.0.0:0` without --require-auth started serving")
    assert result.returncode == 2, result.stderr
    assert "usage: registry-server serve" in result.stderr
    assert "listening on 0.0.0.0:0 without authentication" in result.stderr
    assert "--require-auth" in result.stderr and "--insecure-allow-anonymous" in result.stderr


@pytest.mark.parametrize("mode", ["require_auth", "insecure_allow_anonymous"])
def test_a_network_address_is_served_with_auth_or_when_told_to_accept_the_risk(
    mode: str, tmp_path: Path
) -> None:
    running = start(
        ServerConfig(
            database_url=_sqlite(tmp_path),
            artifact_store=str(tmp_path / "a"),
            listen="0.0.0.0:0",
            workers=2,
            **{mode: True},  # type: ignore[arg-type]
        )
    )
    try:
        with client_for(f"127.0.0.1:{running.port}", None, actor="someone") as client:
            if mode == "require_auth":
                with pytest.raises(Unauthenticated):
                    client.whoami()
            else:
                me = client.whoami()
                assert (me.principal, me.role, me.authentication_required) == (
                    "someone",
                    "admin",
                    False,
                )
    finally:
        running.stop(grace=0)


def test_auth_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REGISTRY_REQUIRE_AUTH", "REGISTRY_INSECURE_ALLOW_ANONYMOUS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("REGISTRY_BOOTSTRAP_ADMIN_TOKEN", raising=False)
    config = ServerConfig.from_env("sqlite://")
    assert (config.require_auth, config.insecure_allow_anonymous) == (False, False)
    assert config.bootstrap_admin_token is None
    monkeypatch.setenv("REGISTRY_REQUIRE_AUTH", "true")
    monkeypatch.setenv("REGISTRY_INSECURE_ALLOW_ANONYMOUS", "0")
    monkeypatch.setenv("REGISTRY_BOOTSTRAP_ADMIN_TOKEN", BOOTSTRAP)
    config = ServerConfig.from_env("sqlite://", listen="0.0.0.0:50051")
    assert (config.require_auth, config.insecure_allow_anonymous) == (True, False)
    assert config.bootstrap_admin_token == BOOTSTRAP
    config.check_exposure()
    monkeypatch.setenv("REGISTRY_REQUIRE_AUTH", "maybe")
    with pytest.raises(ConfigError, match="REGISTRY_REQUIRE_AUTH must be true or false"):
        ServerConfig.from_env("sqlite://")
    monkeypatch.setenv("REGISTRY_REQUIRE_AUTH", "1")
    monkeypatch.setenv("REGISTRY_BOOTSTRAP_ADMIN_TOKEN", "too-short")
    with pytest.raises(ConfigError, match="at least 32 characters"):
        ServerConfig.from_env("sqlite://")


def test_the_bootstrap_token_becomes_an_admin_token_once(tmp_path: Path) -> None:
    def serve() -> Any:
        return start_auth_server(_sqlite(tmp_path), tmp_path / "a", bootstrap_admin_token=BOOTSTRAP)

    running = serve()
    try:
        with client_for(f"127.0.0.1:{running.port}", BOOTSTRAP) as admin:
            me = admin.whoami()
            assert (me.principal, me.role) == ("admin", "admin")
            second = admin.create_access_token("second-admin", "admin")
    finally:
        running.stop(grace=0)
    running = serve()  # again: the same token, not a second one
    try:
        target = f"127.0.0.1:{running.port}"
        with client_for(target, second.secret) as other:
            (bootstrap,) = [t for t in other.list_access_tokens() if t.description == "bootstrap"]
            assert (bootstrap.principal, bootstrap.role) == ("admin", "admin")
            other.revoke_access_token(bootstrap.token_id)
    finally:
        running.stop(grace=0)
    running = serve()  # a revoked bootstrap token stays revoked
    try:
        with (
            client_for(f"127.0.0.1:{running.port}", BOOTSTRAP) as admin,
            pytest.raises(Unauthenticated, match="was revoked"),
        ):
            admin.whoami()
    finally:
        running.stop(grace=0)
    database = prepare_database(_sqlite(tmp_path), pool_size=1)
    try:
        with database.read() as conn:
            hashes = conn.execute(sa.select(access_tokens.c.secret_hash)).scalars().all()
    finally:
        database.dispose()
    assert hashes.count(hash_secret(BOOTSTRAP)) == 1
    assert BOOTSTRAP not in hashes


def test_replicas_starting_together_share_one_bootstrap_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = prepare_database(_sqlite(tmp_path), pool_size=1)
    try:
        TokenService(database).ensure(BOOTSTRAP, "admin", Role.ADMIN)  # replica 1
        # Replica 2 looked before replica 1 committed: its insert hits the unique hash.
        looked: list[str] = []
        real = token_store.token_by_hash

        def late(conn: Any, secret_hash: str) -> Any:
            looked.append(secret_hash)
            return None if len(looked) == 1 else real(conn, secret_hash)

        monkeypatch.setattr(token_store, "token_by_hash", late)
        TokenService(database).ensure(BOOTSTRAP, "admin", Role.ADMIN)  # starts, no error
        assert len(looked) == 2
        with database.read() as conn:
            hashes = conn.execute(sa.select(access_tokens.c.secret_hash)).scalars().all()
        assert hashes == [hash_secret(BOOTSTRAP)]
    finally:
        database.dispose()


# --------------------------------------------------------------------------- registry-server tokens


def _server_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = server_main(["--log-level", "WARNING", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_registry_server_tokens_create_list_revoke(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = ["--database-url", _sqlite(tmp_path)]
    code, out, err = _server_cli(
        capsys, "tokens", "create", "ci-risk", "--role", "writer", "--description", "CI", *url
    )
    assert code == 0, err
    first, secret = out.splitlines()
    token_id = int(re.fullmatch(r"token (\d+) for 'ci-risk' \(writer\)", first).group(1))  # type: ignore[union-attr]
    assert secret.startswith("mrt_")

    # Only the hash is stored.
    database = prepare_database(_sqlite(tmp_path), pool_size=1)
    try:
        with database.read() as conn:
            rows = conn.execute(sa.select(access_tokens)).all()
        assert [r.id for r in rows] == [token_id]
        assert rows[0].secret_hash == hash_secret(secret)
        assert not any(secret in str(value) for value in rows[0])

        # The printed secret authenticates against a server on that database.
        running = start_auth_server(_sqlite(tmp_path), tmp_path / "a")
        try:
            with client_for(f"127.0.0.1:{running.port}", secret) as client:
                me = client.whoami()
                assert (me.principal, me.role) == ("ci-risk", "writer")
        finally:
            running.stop(grace=0)

        # Listed by prefix, never by secret (shown once).
        code, out, err = _server_cli(capsys, "tokens", "list", *url)
        assert code == 0, err
        assert out.split("\t")[:3] == [str(token_id), "ci-risk", "writer"]
        assert out.rstrip().endswith("active")
        assert secret not in out and secret[:8] in out

        code, out, err = _server_cli(capsys, "tokens", "revoke", str(token_id), *url)
        assert (code, out) == (0, f"revoked token {token_id} of 'ci-risk'\n"), err
        assert _server_cli(capsys, "tokens", "list", *url)[1] == ""
        assert _server_cli(capsys, "tokens", "list", "--all", *url)[1].rstrip().endswith("revoked")
        with pytest.raises(ServerUnauthenticated, match="was revoked"):
            Authenticator(database, required=True).authenticate(f"Bearer {secret}", "")

        # Expired tokens say so.
        expired, _ = TokenService(database).create_unchecked("old", Role.READER, "", 1, "test")
        with database.write() as conn:
            conn.execute(
                sa.update(access_tokens)
                .where(access_tokens.c.id == expired.token_id)
                .values(expiration_time=1)
            )
        listing = _server_cli(capsys, "tokens", "list", "--all", *url)[1].splitlines()
        assert listing[0].split("\t")[-1] == "expired"
    finally:
        database.dispose()

    # Mistakes are reported, not raised.
    code, _, err = _server_cli(capsys, "tokens", "revoke", "999", *url)
    assert (code, err.strip()) == (1, "registry-server: token_id: no access token 999")
    code, _, err = _server_cli(capsys, "tokens", "create", " padded", "--role", "admin", *url)
    assert code == 1 and "principal must be non-empty" in err
    code, _, err = _server_cli(
        capsys, "tokens", "create", "x", "--role", "admin", "--expires-in-days", "-1", *url
    )
    assert code == 1 and "must not be negative" in err


def test_registry_server_tokens_reports_bad_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRY_BOOTSTRAP_ADMIN_TOKEN", "short")
    code, out, err = _server_cli(capsys, "tokens", "list", "--database-url", _sqlite(tmp_path))
    assert (code, out) == (2, "")
    assert "REGISTRY_BOOTSTRAP_ADMIN_TOKEN must be at least 32 characters" in err


# --------------------------------------------------------------------------- registry (client CLI)


@pytest.fixture(scope="module")
def cli_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    folder = tmp_path_factory.mktemp("auth-cli")
    with auth_server(_sqlite(folder), folder, "sqlite") as server:
        yield server


@pytest.fixture
def run(
    cli_auth: AuthServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Run:
    """The `registry` CLI against the auth server: (exit code, stdout, stderr)."""
    monkeypatch.delenv("REGISTRY_TOKEN", raising=False)

    def _run(*argv: str) -> tuple[int, str, str]:
        code = registry_main(["--target", cli_auth.target, "--actor", "cli-actor", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def _json(run: Run, token: str, *argv: str) -> Any:
    code, out, err = run("--token", token, "--output", "json", *argv)
    assert code == 0, err
    return json.loads(out)


def test_registry_tokens_create_list_revoke(cli_auth: AuthServer, run: Run) -> None:
    admin = cli_auth.admin
    assert admin.whoami().role == "admin"
    root = cli_auth.admin_secret
    created = _json(
        run, root, "tokens", "create", "ci-cli", "--role", "none",
        "--description", "CI of the risk team", "--expires-in", "90d",
    )  # fmt: skip
    secret = created["secret"]
    assert secret.startswith("mrt_")
    assert (created["principal"], created["role"]) == ("ci-cli", "none")
    assert created["description"] == "CI of the risk team"
    assert created["created_by"] == "root-admin"
    lifetime = created["expiration_timestamp"] - created["creation_timestamp"]
    assert lifetime == 90 * 86400 * 1000

    code, out, _ = run("--token", secret, "whoami")
    assert (code, out) == (0, "ci-cli (none; server: token required)\n")
    assert _json(run, secret, "whoami") == {
        "principal": "ci-cli",
        "role": "none",
        "authentication_required": True,
    }

    code, out, err = run("--token", root, "--output", "json", "tokens", "list")
    assert code == 0, err
    assert secret not in out  # the secret is shown once, at creation
    listed = {t["token_id"]: t for t in json.loads(out)["tokens"]}
    assert listed[created["token_id"]]["prefix"] == secret[: len(created["prefix"])]
    code, out, _ = run("--token", root, "tokens", "list")
    assert "ci-cli" in out and created["prefix"] + "..." in out and secret not in out

    # Only admins manage tokens.
    code, _, err = run("--token", secret, "tokens", "list")
    assert code == 1
    assert "PERMISSION_DENIED" in err and "needs the global role admin" in err

    revoked = _json(run, root, "tokens", "revoke", str(created["token_id"]))
    assert revoked["token_id"] == created["token_id"] and revoked["revocation_timestamp"]
    inactive = _json(run, root, "tokens", "list", "--all")["tokens"]
    assert any(t["token_id"] == created["token_id"] for t in inactive)
    active = _json(run, root, "tokens", "list")["tokens"]
    assert all(t["token_id"] != created["token_id"] for t in active)


def test_registry_access_commands(cli_auth: AuthServer, run: Run) -> None:
    admin = cli_auth.admin
    root = cli_auth.admin_secret
    name = "cli-access-model"
    admin.create_registered_model(name)
    for i in (1, 2):
        admin.create_model_version(name, source=f"s3://b/{i}")
    admin.set_registered_model_alias(name, "champion", 1)
    ci_secret = cli_auth.token("ci-access", "none")

    # No grant yet: to it, the model does not exist; without a token: unauthenticated.
    code, _, err = run("--token", ci_secret, "versions", "create", name, "--source", "s3://b/3")
    assert code == 1 and f"NOT_FOUND: registered model {name!r} not found" in err
    code, _, err = run("versions", "create", name, "--source", "s3://b/3")
    assert code == 1 and "UNAUTHENTICATED" in err

    assert _json(run, root, "access", "grant", name, "ci-access", "writer") == {
        "name": name,
        "principal": "ci-access",
        "role": "writer",
    }
    assert _json(run, root, "access", "grants", name) == {
        "name": name,
        "grants": [{"principal": "ci-access", "role": "writer"}],
    }
    protected = _json(
        run, root, "access", "protect", name, "--alias", "champion", "--stage", "production"
    )
    assert protected["name"] == name
    assert protected["protected_aliases"] == ["champion"]
    assert protected["protected_stages"] == ["Production"]
    code, out, _ = run("--token", root, "access", "protect", name, "--alias", "champion")
    assert out.strip() == f"{name}: protected aliases champion; protected stages (none)"

    # With the grant, the CI token creates versions and moves unprotected aliases only.
    created = _json(run, ci_secret, "versions", "create", name, "--source", "s3://b/3")
    assert (created["version"], created["created_by"]) == (3, "ci-access")
    code, _, err = run("--token", ci_secret, "aliases", "set", name, "candidate", "3")
    assert code == 0, err
    code, _, err = run("--token", ci_secret, "aliases", "set", name, "champion", "3")
    assert code == 1 and "protected alias" in err and "needs role admin" in err
    # Writers do not list grants (admin of the model does).
    code, _, err = run("--token", ci_secret, "access", "grants", name)
    assert code == 1 and "needs role admin" in err

    # The first refusal is in the history, with the token's principal as actor
    # (the next ones by it on this model, within the minute, are only counted).
    history = _json(run, root, "history", name, "--kind", "access_denied")
    (denied,) = history["events"]
    assert (denied["actor"], denied["after"]["action"]) == ("ci-access", "creating a version")

    assert _json(run, root, "access", "ungrant", name, "ci-access") == {
        "name": name,
        "principal": "ci-access",
        "deleted": True,
    }
    assert _json(run, root, "access", "grants", name) == {"name": name, "grants": []}
    code, _, err = run("--token", ci_secret, "versions", "create", name, "--source", "s3://b/4")
    assert code == 1 and "NOT_FOUND" in err
    code, out, _ = run("--token", root, "access", "protect", name)
    assert out.strip() == f"{name}: protected aliases (none); protected stages (none)"


def test_the_token_can_come_from_the_environment(
    cli_auth: AuthServer, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = cli_auth.token("from-env", "reader")
    monkeypatch.setenv("REGISTRY_TOKEN", secret)
    code, out, err = run("whoami")
    assert (code, out) == (0, "from-env (reader; server: token required)\n"), err
    code, out, err = run("--token", cli_auth.token("from-flag", "writer"), "whoami")
    assert out.startswith("from-flag (writer;"), err  # the flag wins


def test_the_security_docs_commands_are_valid() -> None:
    from support.doc_commands import ROOT, command_lines

    from registry_client.cli import build_parser as registry_parser
    from registry_server.cli import build_parser as server_parser

    commands = command_lines(
        ROOT / "docs" / "security.md", programs=("registry", "registry-server")
    )
    assert len(commands) >= 10
    parsers = {"registry": registry_parser(), "registry-server": server_parser()}
    for program, *argv in commands:
        parsers[program].parse_args(argv)  # a usage error exits (fails the test)
    assert ["registry-server", "tokens", "create", "admin", "--role", "admin"] in commands
