"""The models:/ URI grammar, parsed in exactly one place.

    models:/<name>/<version>     a version number (1, 2, ...)
    models:/<name>/<stage>       highest version in the stage (any case)
    models:/<name>/latest        highest version
    models:/<name>@<alias>       the version the alias points at
each optionally followed by /<path inside the model>.

Names cannot contain '/', ':' or '@', which is what makes the grammar
unambiguous: the name ends at the first '/' or '@'.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from registry_server.domain import validation
from registry_server.domain.entities import Stage
from registry_server.domain.errors import InvalidArgument

SCHEME = "models:/"
MAX_URI_LENGTH = 8192
MAX_VERSION = 2**63 - 1


class Selector(enum.Enum):
    VERSION = "version"
    STAGE = "stage"
    LATEST = "latest"
    ALIAS = "alias"


@dataclass(frozen=True, slots=True)
class ModelUri:
    name: str
    selector: Selector
    version: int | None = None
    stage: Stage | None = None
    alias: str | None = None
    path: str = ""


def _bad(uri: str, why: str) -> InvalidArgument:
    shown = uri if len(uri) <= 200 else uri[:200] + "..."
    return InvalidArgument(f"uri {shown!r} is malformed: {why}")


def _parse_path(uri: str, path: str) -> str:
    if not path:
        return ""
    if "\\" in path:
        raise _bad(uri, "the path must not contain backslashes")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise _bad(uri, "the path must not contain '..'")
    return "/".join(parts)


def parse(uri: str) -> ModelUri:
    if not uri:
        raise InvalidArgument("uri is required")
    if len(uri) > MAX_URI_LENGTH:
        raise InvalidArgument(f"uri is longer than {MAX_URI_LENGTH} characters")
    if not uri.startswith(SCHEME):
        raise _bad(uri, "it must start with 'models:/'")
    rest = uri[len(SCHEME) :]
    if rest.startswith("/"):
        raise _bad(uri, "expected models:/<name>/..., not models://")
    cut = min((i for i in (rest.find("/"), rest.find("@")) if i >= 0), default=-1)
    if cut < 0:
        raise _bad(
            uri,
            "a version, stage, 'latest' (models:/<name>/<x>) or alias "
            "(models:/<name>@<alias>) must follow the model name",
        )
    name, sep, tail = rest[:cut], rest[cut], rest[cut + 1 :]
    if not name:
        raise _bad(uri, "the model name is empty")
    try:
        name = validation.model_name(name, "model name")  # NFC
    except InvalidArgument as exc:
        raise _bad(uri, exc.message) from None
    segment, _, path = tail.partition("/")
    path = _parse_path(uri, path)
    if sep == "@":
        if not segment:
            raise _bad(uri, "the alias after '@' is empty")
        if "@" in segment:
            raise _bad(uri, "only one '@' is allowed")
        try:
            validation.alias(segment, "alias")
        except InvalidArgument as exc:
            raise _bad(uri, exc.message) from None
        return ModelUri(name, Selector.ALIAS, alias=segment, path=path)
    if not segment:
        raise _bad(uri, "the version, stage or 'latest' after the model name is empty")
    if segment.isascii() and segment.isdigit():
        number = int(segment)
        if number <= 0:
            raise _bad(uri, "version numbers start at 1")
        if number > MAX_VERSION:
            # No such version can exist, and the database driver would refuse
            # the number (SQLite: "Python int too large") rather than find nothing.
            raise _bad(uri, f"version numbers end at {MAX_VERSION} (the API's int64)")
        return ModelUri(name, Selector.VERSION, version=number, path=path)
    if segment.lower() == "latest":
        return ModelUri(name, Selector.LATEST, path=path)
    found = validation.stage_or_none(segment)
    if found is not None:
        return ModelUri(name, Selector.STAGE, stage=found, path=path)
    if "@" in segment:
        raise _bad(uri, "'@' must directly follow the model name (models:/<name>@<alias>)")
    stages = ", ".join(s.value for s in Stage)
    raise _bad(uri, f"{segment!r} is not a version number, 'latest' or a stage ({stages})")


def exact(name: str, version: int, path: str = "") -> str:
    """The immutable form of a resolved URI."""
    base = f"{SCHEME}{name}/{version}"
    return f"{base}/{path}" if path else base
