"""``registry aliases``: movable names for versions."""

from __future__ import annotations

import argparse
from typing import Any

from registry_client._client import ALIAS_MUST_NOT_EXIST, RegistryClient
from registry_client.cli._format import to_jsonable, version_text
from registry_client.cli._parsing import (
    Result,
    command,
    done,
    group,
    non_negative_int,
    positive_int,
)


def add(sub: Any) -> None:
    g = group(
        sub,
        "aliases",
        "aliases: named pointers to versions (champion, canary, ...)",
        "Manage aliases, movable names for versions usable as models:/NAME@ALIAS.",
        [
            "registry aliases set fraud-detector champion 3",
            "registry aliases get fraud-detector champion",
        ],
    )
    p = command(
        g,
        "set",
        aliases_set,
        "point an alias at a version",
        "Create an alias or move it to VERSION, atomically. With --expected-version or\n"
        "--must-not-exist the change only happens if the alias is where you think it\n"
        "is; otherwise the command fails with FAILED_PRECONDITION and changes nothing.",
        [
            "registry aliases set fraud-detector champion 4 --expected-version 3",
            "registry aliases set fraud-detector canary 4 --must-not-exist",
        ],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("alias", metavar="ALIAS", help="alias name, e.g. champion")
    p.add_argument("version", metavar="VERSION", type=positive_int, help="version number")
    cas = p.add_mutually_exclusive_group()
    cas.add_argument(
        "--expected-version",
        type=non_negative_int,
        metavar="N",
        help="only if the alias currently points at version N (0: does not exist)",
    )
    cas.add_argument(
        "--must-not-exist", action="store_true", help="only if the alias does not exist yet"
    )

    p = command(
        g,
        "get",
        aliases_get,
        "show the version an alias points at",
        "Show the version an alias points at.",
        ["registry aliases get fraud-detector champion"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("alias", metavar="ALIAS", help="alias name, e.g. champion")

    p = command(
        g,
        "delete",
        aliases_delete,
        "delete an alias",
        "Delete an alias; the version it pointed at is unaffected.",
        ["registry aliases delete fraud-detector canary"],
    )
    p.add_argument("name", metavar="NAME", help="registered model name")
    p.add_argument("alias", metavar="ALIAS", help="alias name, e.g. champion")


def aliases_set(c: RegistryClient, a: argparse.Namespace) -> Result:
    expected = ALIAS_MUST_NOT_EXIST if a.must_not_exist else a.expected_version
    move = c.move_registered_model_alias(a.name, a.alias, a.version, expected_version=expected)
    mv = move.model_version
    was = "new alias" if move.previous_version is None else f"was {move.previous_version}"
    text = f"{a.name}@{a.alias} -> version {mv.version} ({was})\n\n" + version_text(mv)
    # The version's JSON plus where the alias pointed before: what a
    # rollback step needs, without a second call.
    return Result({**to_jsonable(mv), "previous_version": move.previous_version}, text)


def aliases_get(c: RegistryClient, a: argparse.Namespace) -> Result:
    mv = c.get_model_version_by_alias(a.name, a.alias)
    return Result(mv, version_text(mv))


def aliases_delete(c: RegistryClient, a: argparse.Namespace) -> Result:
    c.delete_registered_model_alias(a.name, a.alias)
    return done(
        f"Deleted alias {a.alias!r} of model {a.name!r}.", name=a.name, alias=a.alias, deleted=True
    )
