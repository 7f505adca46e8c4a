"""``registry access``, ``registry tokens`` and ``registry whoami``: who may
do what."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from registry_client._client import RegistryClient
from registry_client.cli._format import fmt_time, rows, to_jsonable
from registry_client.cli._parsing import Result, command, done, group, positive_int
from registry_client.types import AccessToken


def add_whoami(sub: Any) -> None:
    command(
        sub,
        "whoami",
        whoami,
        "show who the server takes you to be",
        "Show the principal and global role the server sees for your token (or your\n"
        "actor name when the server runs without authentication).",
        ['registry --token "$REGISTRY_TOKEN" whoami'],
    )


def add(sub: Any) -> None:
    g = group(
        sub,
        "access",
        "who may change a model: protected aliases/stages, per-model grants",
        "Per-model access control. A protected alias or stage can only be moved by an\n"
        "admin of the model; a grant raises a principal's role on one model (e.g. a\n"
        "team's CI token is writer on its own models only).",
        [
            "registry access protect fraud-detector --alias champion --stage Production",
            "registry access grant fraud-detector ci-risk writer",
        ],
    )
    p = command(
        g,
        "protect",
        access_protect,
        "set the protected aliases and stages of a model",
        "Replace the model's protected aliases and stages with the ones given (none:\n"
        "unprotect everything). Needs the admin role on the model.",
        [
            "registry access protect fraud-detector --alias champion --stage Production",
            "registry access protect fraud-detector",
        ],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument(
        "--alias", dest="aliases", action="append", metavar="ALIAS", help="protect this alias"
    )
    p.add_argument(
        "--stage",
        dest="stages",
        action="append",
        metavar="STAGE",
        help="protect this stage (Staging, Production or Archived)",
    )
    p = command(
        g,
        "grant",
        access_grant,
        "give a principal a role on one model",
        "Give PRINCIPAL at least ROLE on the model, replacing an earlier grant.\n"
        "Needs the global admin role.",
        ["registry access grant fraud-detector ci-risk writer"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("principal", metavar="PRINCIPAL", help="the token's principal")
    p.add_argument("role", choices=("reader", "writer", "admin"), help="role on this model")
    p = command(
        g,
        "ungrant",
        access_ungrant,
        "remove a principal's grant on a model",
        "Remove PRINCIPAL's grant on the model. Needs the global admin role.",
        ["registry access ungrant fraud-detector ci-risk"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("principal", metavar="PRINCIPAL", help="the token's principal")
    p = command(
        g,
        "grants",
        access_grants,
        "list the grants on a model",
        "List who has a per-model grant on the model. Needs the admin role on it.",
        ["registry access grants fraud-detector"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")


def add_tokens(sub: Any) -> None:
    g = group(
        sub,
        "tokens",
        "access tokens: create, list, revoke (admins)",
        "Manage bearer tokens. The secret is printed once at creation; the server\n"
        "keeps only a hash. All commands need the global admin role (on the server\n"
        "host, `registry-server tokens ...` works without a token).",
        [
            "registry tokens create ci-risk --role none --expires-in 90d",
            "registry tokens list",
        ],
    )
    p = command(
        g,
        "create",
        tokens_create,
        "create a token and print its secret once",
        "Create a token for PRINCIPAL with a global role (none: only per-model grants\n"
        "apply). The secret is shown once; pass it with --token or $REGISTRY_TOKEN.",
        [
            "registry tokens create ci-risk --role none --description 'CI of the risk team'",
            "registry --output json tokens create deployer --role reader --expires-in 30d",
        ],
    )
    p.add_argument("principal", metavar="PRINCIPAL", help="who the token authenticates as")
    p.add_argument(
        "--role", required=True, choices=("none", "reader", "writer", "admin"), help="global role"
    )
    p.add_argument("--description", help="what the token is for")
    p.add_argument(
        "--expires-in",
        type=duration,
        metavar="DURATION",
        help="lifetime, e.g. 90d, 12h, 3600 (default: never expires)",
    )
    p = command(
        g,
        "list",
        tokens_list,
        "list tokens (never their secrets)",
        "List active tokens, newest first; --all includes revoked and expired ones.",
        ["registry tokens list --all"],
    )
    p.add_argument("--all", action="store_true", help="include revoked and expired tokens")
    p = command(
        g,
        "revoke",
        tokens_revoke,
        "revoke a token",
        "Revoke a token by its ID (see `registry tokens list`); calls carrying it are\n"
        "refused within seconds on every server replica.",
        ["registry tokens revoke 7"],
    )
    p.add_argument("token_id", metavar="ID", type=positive_int, help="token ID")


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> int:
    """``90d``, ``12h``, ``30m``, ``45s`` or plain seconds -> seconds."""
    value = text.strip().lower()
    unit = _DURATION_UNITS.get(value[-1:])
    number = value[:-1] if unit else value
    if not number.isdigit() or int(number) <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a duration like 90d, 12h, 30m or seconds, got {text!r}"
        )
    return int(number) * (unit or 1)


def _tokens_table(tokens: Sequence[AccessToken]) -> str:
    body = [
        [
            t.token_id,
            t.principal,
            t.role,
            t.prefix + "...",
            fmt_time(t.creation_timestamp),
            fmt_time(t.expiration_timestamp) if t.expiration_timestamp else "never",
            "revoked" if t.revocation_timestamp else ("active" if t.active else "expired"),
            t.description,
        ]
        for t in tokens
    ]
    headers = ["ID", "PRINCIPAL", "ROLE", "PREFIX", "CREATED", "EXPIRES", "STATE", "DESCRIPTION"]
    return rows(headers, body, "(no tokens)", full_last=True)


def whoami(c: RegistryClient, a: argparse.Namespace) -> Result:
    me = c.whoami()
    auth = "token required" if me.authentication_required else "no authentication"
    return Result(me, f"{me.principal} ({me.role}; server: {auth})")


def access_protect(c: RegistryClient, a: argparse.Namespace) -> Result:
    rm = c.set_model_protection(
        a.name, protected_aliases=a.aliases or [], protected_stages=a.stages or []
    )
    aliases = ", ".join(rm.protected_aliases) or "(none)"
    stages = ", ".join(rm.protected_stages) or "(none)"
    text = f"{rm.name}: protected aliases {aliases}; protected stages {stages}"
    return Result(rm, text)


def access_grant(c: RegistryClient, a: argparse.Namespace) -> Result:
    c.set_model_grant(a.name, a.principal, a.role)
    return done(
        f"{a.principal!r} now has at least {a.role} on {a.name!r}.",
        name=a.name,
        principal=a.principal,
        role=a.role,
    )


def access_ungrant(c: RegistryClient, a: argparse.Namespace) -> Result:
    c.delete_model_grant(a.name, a.principal)
    return done(
        f"Removed the grant of {a.principal!r} on {a.name!r}.",
        name=a.name,
        principal=a.principal,
        deleted=True,
    )


def access_grants(c: RegistryClient, a: argparse.Namespace) -> Result:
    grants = c.list_model_grants(a.name)
    text = rows(["PRINCIPAL", "ROLE"], [[g.principal, g.role] for g in grants], "(no grants)")
    return Result({"name": a.name, "grants": grants}, text)


def tokens_create(c: RegistryClient, a: argparse.Namespace) -> Result:
    created = c.create_access_token(
        a.principal, a.role, description=a.description or "", expires_in=a.expires_in
    )
    text = (
        _tokens_table([created.token]) + f"\n\nsecret (shown once, store it now):\n{created.secret}"
    )
    return Result({**to_jsonable(created.token), "secret": created.secret}, text)


def tokens_list(c: RegistryClient, a: argparse.Namespace) -> Result:
    tokens = c.list_access_tokens(include_inactive=a.all)
    return Result({"tokens": tokens}, _tokens_table(tokens))


def tokens_revoke(c: RegistryClient, a: argparse.Namespace) -> Result:
    token = c.revoke_access_token(a.token_id)
    return Result(token, f"Revoked token {token.token_id} of {token.principal!r}.")
