"""Argument types and command handlers of the ``registry`` CLI.

A handler takes the connected client and the parsed arguments and returns a
``Result`` holding both renderings of its outcome; ``cli`` decides which one
to print. Handlers call the typed client only, never gRPC.
"""

from __future__ import annotations

import argparse
import itertools
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from registry_client import _output as out
from registry_client._artifacts import compute_manifest
from registry_client._client import ALIAS_MUST_NOT_EXIST, RegistryClient
from registry_client._progress import progress_bar
from registry_client._types import AccessToken, Dataset, Lineage


@dataclass(frozen=True)
class Result:
    """What a command produced: ``data`` for --output json, ``text`` for people.

    ``note`` is a hint for people (e.g. how to get the next page) that goes
    to stderr in table mode, keeping stdout a clean table for ``grep`` and
    ``awk``; in JSON mode the same information is a field of ``data``.
    """

    data: Any
    text: str
    note: str = ""


Handler = Callable[[RegistryClient, argparse.Namespace], Result]

#: Checks argument combinations argparse cannot express; returns what is
#: wrong (reported as a usage error, exit 2, before connecting) or None.
Check = Callable[[argparse.Namespace], str | None]


# -- argument types ---------------------------------------------------------------
# Raising ArgumentTypeError makes argparse report the bad value and exit 2.


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Epoch milliseconds below this (1973-03-03) are almost surely epoch seconds
# or a compact date (20260301) typed by mistake; refusing them beats silently
# asking about January 1970.
_MIN_EPOCH_MS = 10**11


def timestamp(text: str) -> int:
    """A moment on the command line -> epoch milliseconds.

    Accepts ISO-8601 (``2026-03-01``, ``2026-03-01T10:00``, ``2026-03-01
    10:00:00+02:00``, ``...Z``) or epoch milliseconds. A time without an
    offset is UTC, not the local zone: the same command then means the same
    moment on a laptop, a CI runner and a server.
    """
    value = text.strip()
    if value.isdigit():
        ms = int(value)
        if ms < _MIN_EPOCH_MS:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not epoch milliseconds (13 digits today); for epoch seconds "
                "append 000, for a date write it as 2026-03-01"
            )
        return ms
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO-8601 time such as 2026-03-01T10:00 or epoch milliseconds, "
            f"got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # Integer arithmetic: float timestamps can be off by a millisecond.
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


DATASET_KEYS = {
    "name": "name",
    "digest": "digest",
    "source": "source_uri",
    "source_uri": "source_uri",
}


def dataset(text: str) -> Dataset:
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        attr = DATASET_KEYS.get(key.strip())
        if not sep or attr is None:
            raise argparse.ArgumentTypeError(
                f"expected name=N,digest=D,source=URI (any subset), got {text!r}"
            )
        if attr in fields:
            raise argparse.ArgumentTypeError(f"{key.strip()!r} given twice in {text!r}")
        fields[attr] = value
    return Dataset(
        name=fields.get("name", ""),
        digest=fields.get("digest", ""),
        source_uri=fields.get("source_uri", ""),
    )


class TagAction(argparse.Action):
    """Collect repeated ``--tag KEY=VALUE`` into a dict, rejecting duplicates.

    A duplicate key is almost always a typo, and the server would reject it
    anyway; catching it here gives a usage error (exit 2) instead of exit 1.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        key, value = values
        tags = dict(getattr(namespace, self.dest) or {})
        if key in tags:
            parser.error(f"argument {option_string}: tag key {key!r} given twice")
        tags[key] = value
        setattr(namespace, self.dest, tags)


def add_tag_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tag",
        dest="tags",
        metavar="KEY=VALUE",
        type=key_value,
        action=TagAction,
        default=None,
        help="a tag to set; repeat for several",
    )


# -- command handlers ---------------------------------------------------------------


def _done(text: str, **data: Any) -> Result:
    # Calls that return nothing still print one JSON document, so scripts
    # can always parse stdout.
    return Result(data, text)


def models_create(c: RegistryClient, a: argparse.Namespace) -> Result:
    rm = c.create_registered_model(a.name, tags=a.tags, description=a.description)
    return Result(rm, out.model_text(rm))


def models_get(c: RegistryClient, a: argparse.Namespace) -> Result:
    rm = c.get_registered_model(a.name)
    return Result(rm, out.model_text(rm))


def models_update(c: RegistryClient, a: argparse.Namespace) -> Result:
    rm = c.update_registered_model(a.name, a.description)
    return Result(rm, out.model_text(rm))


def models_rename(c: RegistryClient, a: argparse.Namespace) -> Result:
    rm = c.rename_registered_model(a.name, a.new_name)
    return Result(rm, out.model_text(rm))


def models_delete(c: RegistryClient, a: argparse.Namespace) -> Result:
    c.delete_registered_model(a.name)
    return _done(f"Deleted model {a.name!r}.", name=a.name, deleted=True)


def models_set_tag(c: RegistryClient, a: argparse.Namespace) -> Result:
    c.set_registered_model_tag(a.name, a.key, a.value)
    return _done(f"Set tag {a.key!r} on model {a.name!r}.", name=a.name, key=a.key, value=a.value)


def models_delete_tag(c: RegistryClient, a: argparse.Namespace) -> Result:
    c.delete_registered_model_tag(a.name, a.key)
    return _done(
        f"Deleted tag {a.key!r} from model {a.name!r}.", name=a.name, key=a.key, deleted=True
    )


def models_latest(c: RegistryClient, a: argparse.Namespace) -> Result:
    versions = c.get_latest_versions(a.name, stages=a.stages)
    return Result(versions, out.versions_table(versions))


def _lineage(a: argparse.Namespace) -> Lineage | None:
    if not (a.experiment_id or a.code_version or a.datasets or a.parent):
        return None
    # run_id/run_link are repeated inside the lineage; the contract accepts
    # both forms as long as they agree, which they do here.
    return Lineage(
        run_id=a.run_id or "",
        run_link=a.run_link or "",
        experiment_id=a.experiment_id or "",
        code_version=a.code_version or "",
        datasets=tuple(a.datasets or ()),
        parent_model_uri=a.parent or "",
    )


def versions_create(c: RegistryClient, a: argparse.Namespace) -> Result:
    if a.artifacts is None:
        mv = c.create_model_version(
            a.name,
            a.source,
            run_id=a.run_id,
            tags=a.tags,
            run_link=a.run_link,
            description=a.description,
            lineage=_lineage(a),
            idempotency_key=a.idempotency_key,
        )
        return Result(mv, out.version_text(mv))
    with progress_bar("uploading") as bar:
        mv = c.log_model_version(
            a.name,
            a.artifacts,
            run_id=a.run_id,
            run_link=a.run_link,
            description=a.description,
            tags=a.tags,
            lineage=_lineage(a),
            idempotency_key=a.idempotency_key,
            max_workers=a.workers,
            progress=bar,
        )
    return Result(mv, out.version_text(mv))


def versions_finalize(c: RegistryClient, a: argparse.Namespace) -> Result:
    manifest = compute_manifest(a.manifest_from)
    mv = c.finalize_model_version(a.name, a.version, manifest)
    return Result(mv, out.version_text(mv))


def versions_abort(c: RegistryClient, a: argparse.Namespace) -> Result:
    mv = c.abort_model_version(a.name, a.version, reason=a.reason)
    return Result(mv, out.version_text(mv))


def versions_get(c: RegistryClient, a: argparse.Namespace) -> Result:
    mv = c.get_model_version(a.name, a.version)
    return Result(mv, out.version_text(mv))


def versions_update(c: RegistryClient, a: argparse.Namespace) -> Result:
    mv = c.update_model_version(a.name, a.version, a.description)
    return Result(mv, out.version_text(mv))


def versions_delete(c: RegistryClient, a: argparse.Namespace) -> Result:
    c.delete_model_version(a.name, a.version)
    return _done(
        f"Deleted version {a.version} of model {a.name!r}.",
        name=a.name,
        version=a.version,
        deleted=True,
    )


def versions_set_tag(c: RegistryClient, a: argparse.Namespace) -> Result:
    c.set_model_version_tag(a.name, a.version, a.key, a.value)
    return _done(
        f"Set tag {a.key!r} on version {a.version} of model {a.name!r}.",
        name=a.name,
        version=a.version,
        key=a.key,
        value=a.value,
    )


def versions_delete_tag(c: RegistryClient, a: argparse.Namespace) -> Result:
    c.delete_model_version_tag(a.name, a.version, a.key)
    return _done(
        f"Deleted tag {a.key!r} from version {a.version} of model {a.name!r}.",
        name=a.name,
        version=a.version,
        key=a.key,
        deleted=True,
    )


def versions_transition(c: RegistryClient, a: argparse.Namespace) -> Result:
    mv = c.transition_model_version_stage(
        a.name, a.version, a.stage, archive_existing_versions=a.archive_existing
    )
    return Result(mv, out.version_text(mv))


def aliases_set(c: RegistryClient, a: argparse.Namespace) -> Result:
    expected = ALIAS_MUST_NOT_EXIST if a.must_not_exist else a.expected_version
    move = c.move_registered_model_alias(a.name, a.alias, a.version, expected_version=expected)
    mv = move.model_version
    was = "new alias" if move.previous_version is None else f"was {move.previous_version}"
    text = f"{a.name}@{a.alias} -> version {mv.version} ({was})\n\n" + out.version_text(mv)
    # The version's JSON plus where the alias pointed before: what a
    # rollback step needs, without a second call.
    return Result({**out.to_jsonable(mv), "previous_version": move.previous_version}, text)


def aliases_get(c: RegistryClient, a: argparse.Namespace) -> Result:
    mv = c.get_model_version_by_alias(a.name, a.alias)
    return Result(mv, out.version_text(mv))


def aliases_delete(c: RegistryClient, a: argparse.Namespace) -> Result:
    c.delete_registered_model_alias(a.name, a.alias)
    return _done(
        f"Deleted alias {a.alias!r} of model {a.name!r}.", name=a.name, alias=a.alias, deleted=True
    )


def resolve(c: RegistryClient, a: argparse.Namespace) -> Result:
    resolved = c.resolve(a.uri)
    return Result(resolved, out.resolved_text(resolved))


# -- search and lineage --------------------------------------------------------------


def _page_note(option: str, token: str | None) -> str:
    if not token:
        return ""
    # The token last on the line, shell-quoted: scripts and people can take it as is.
    return f"more results; for the next page add: {option} {shlex.quote(token)}"


def search_models(c: RegistryClient, a: argparse.Namespace) -> Result:
    token: str | None = None
    if a.all:
        found = list(c.iter_registered_models(a.filter, a.order_by, page_size=a.max_results))
    else:
        page = c.search_registered_models(a.filter, a.max_results, a.order_by, a.page_token)
        found, token = list(page), page.token
    return Result(
        {"registered_models": found, "next_page_token": token},
        out.models_table(found),
        _page_note("--page-token", token),
    )


def search_versions(c: RegistryClient, a: argparse.Namespace) -> Result:
    token: str | None = None
    if a.all:
        found = list(c.iter_model_versions(a.filter, a.order_by, page_size=a.max_results))
    else:
        page = c.search_model_versions(a.filter, a.max_results, a.order_by, a.page_token)
        found, token = list(page), page.token
    return Result(
        {"model_versions": found, "next_page_token": token},
        out.versions_table(found),
        _page_note("--page-token", token),
    )


def lineage_by_run(c: RegistryClient, a: argparse.Namespace) -> Result:
    versions = c.find_model_versions_by_run(a.run_id)
    return Result(versions, out.versions_table(versions))


def lineage_by_dataset(c: RegistryClient, a: argparse.Namespace) -> Result:
    versions = c.find_model_versions_by_dataset(a.digest)
    return Result(versions, out.versions_table(versions))


def lineage_show(c: RegistryClient, a: argparse.Namespace) -> Result:
    found = c.get_model_version_lineage(a.name, a.version, max_depth=a.max_depth)
    return Result(found, out.lineage_text(found))


# -- history ----------------------------------------------------------------------------

_EVENT_FILTERS = (
    ("--version", "version"),
    ("--alias", "alias"),
    ("--kind", "kinds"),
    ("--actor", "by_actor"),
    ("--since", "since"),
    ("--until", "until"),
    ("--after", "after"),
    ("--limit", "limit"),
)


def check_history(a: argparse.Namespace) -> str | None:
    """--as-of answers a different question (a state, not a list of changes),
    so the list's filters mean nothing with it; say so instead of ignoring them."""
    if a.as_of is not None:
        if not a.name:
            return "--as-of needs NAME: the state of which model?"
        given = [flag for flag, dest in _EVENT_FILTERS if getattr(a, dest)]
        if given:
            return f"--as-of shows a past state; it cannot be combined with {', '.join(given)}"
    elif a.version and not a.name:
        return "--version needs NAME"
    return None


def history(c: RegistryClient, a: argparse.Namespace) -> Result:
    if a.as_of is not None:
        return _state_as_of(c, a)
    page_size = min(a.limit, 1000) if a.limit else 0
    events = c.iter_model_events(
        a.name or "",
        after_event_id=a.after,
        page_size=page_size,
        version=a.version or 0,
        alias=a.alias or "",
        kinds=a.kinds or (),
        actor=a.by_actor or "",
        since=a.since,
        until=a.until,
    )
    if a.limit:
        # One event past the limit tells us whether more remain, so the
        # output can say where to continue.
        shown = list(itertools.islice(events, a.limit + 1))
        more = len(shown) > a.limit
        shown = shown[: a.limit]
    else:
        shown, more = list(events), False
    cursor = shown[-1].event_id if more else 0
    note = f"more events; to continue add: --after {cursor}" if more else ""
    return Result({"events": shown, "next_after_event_id": cursor}, out.events_table(shown), note)


def _state_as_of(c: RegistryClient, a: argparse.Namespace) -> Result:
    state = c.get_model_state_as_of(a.name, a.as_of)
    # "stages" is derived from "versions"; it is there because "what was in
    # Production" is the question scripts ask (jq .stages.Production).
    data = {**out.to_jsonable(state), "stages": out.stage_holders(state)}
    return Result(data, out.state_text(state))


def artifacts_list(c: RegistryClient, a: argparse.Namespace) -> Result:
    listing = c.list_artifacts_with_version(a.name_or_uri, a.version)
    return Result(listing, out.listing_text(listing))


def artifacts_upload(c: RegistryClient, a: argparse.Namespace) -> Result:
    stored = c.upload_artifact(a.name, a.version, a.local_file, path=a.path)
    text = (
        f"Uploaded {stored.path!r} ({out.fmt_bytes(stored.size)}, sha256 {stored.sha256}) "
        f"to version {a.version} of model {a.name!r}."
    )
    return Result({"name": a.name, "version": a.version, "file": stored}, text)


def artifacts_urls(c: RegistryClient, a: argparse.Namespace) -> Result:
    urls = c.get_artifact_download_urls(
        a.name, a.version, paths=a.paths or (), expires_in_seconds=a.expires_in
    )
    return Result(urls, out.urls_text(urls))


def download(c: RegistryClient, a: argparse.Namespace) -> Result:
    with progress_bar("downloading") as bar:
        result = c.download_artifacts(
            a.uri,
            a.dst_dir,
            max_workers=a.workers,
            prefer_presigned=a.presigned,
            progress=bar,
        )
    return Result(result, out.downloaded_text(result))


# -- access control ------------------------------------------------------------------


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
            out.fmt_time(t.creation_timestamp),
            out.fmt_time(t.expiration_timestamp) if t.expiration_timestamp else "never",
            "revoked" if t.revocation_timestamp else ("active" if t.active else "expired"),
            t.description,
        ]
        for t in tokens
    ]
    headers = ["ID", "PRINCIPAL", "ROLE", "PREFIX", "CREATED", "EXPIRES", "STATE", "DESCRIPTION"]
    return out.rows(headers, body, "(no tokens)", full_last=True)


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
    return _done(
        f"{a.principal!r} now has at least {a.role} on {a.name!r}.",
        name=a.name,
        principal=a.principal,
        role=a.role,
    )


def access_ungrant(c: RegistryClient, a: argparse.Namespace) -> Result:
    c.delete_model_grant(a.name, a.principal)
    return _done(
        f"Removed the grant of {a.principal!r} on {a.name!r}.",
        name=a.name,
        principal=a.principal,
        deleted=True,
    )


def access_grants(c: RegistryClient, a: argparse.Namespace) -> Result:
    grants = c.list_model_grants(a.name)
    text = out.rows(["PRINCIPAL", "ROLE"], [[g.principal, g.role] for g in grants], "(no grants)")
    return Result({"name": a.name, "grants": grants}, text)


def tokens_create(c: RegistryClient, a: argparse.Namespace) -> Result:
    created = c.create_access_token(
        a.principal, a.role, description=a.description or "", expires_in=a.expires_in
    )
    text = (
        _tokens_table([created.token]) + f"\n\nsecret (shown once, store it now):\n{created.secret}"
    )
    return Result({**out.to_jsonable(created.token), "secret": created.secret}, text)


def tokens_list(c: RegistryClient, a: argparse.Namespace) -> Result:
    tokens = c.list_access_tokens(include_inactive=a.all)
    return Result({"tokens": tokens}, _tokens_table(tokens))


def tokens_revoke(c: RegistryClient, a: argparse.Namespace) -> Result:
    token = c.revoke_access_token(a.token_id)
    return Result(token, f"Revoked token {token.token_id} of {token.principal!r}.")
