"""Shape rules for names, tags, descriptions, aliases and lineage fields.

Every check raises InvalidArgument naming the request field, so a caller can
fix the exact thing that is wrong. They run before any transaction opens:
a rejected call writes nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

from registry_server.domain.entities import Dataset, Lineage, Stage
from registry_server.domain.errors import FailedPrecondition, InvalidArgument
from registry_server.text import code_point, first_unsafe

MAX_NAME = 256
MAX_TAG_KEY = 250
MAX_TEXT_BYTES = 64 * 1024
MAX_SHORT = 256
MAX_URI = 4096
MAX_DATASETS = 100
# Tags one model or one version holds at most, and their total size (keys and
# values, bytes of UTF-8). Without a bound, a writer on one model made it
# unreadable: 260 tags of 64 KiB put GetRegisteredModel, searches and
# ResolveModelUri over the 16 MiB message limit (RESOURCE_EXHAUSTED) for
# everyone. With these, a model with its latest versions stays near 1.3 MiB.
MAX_TAGS = 100
MAX_TAGS_BYTES = 256 * 1024
MAX_IDEMPOTENCY_KEY = 256

_ALIAS_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_VERSION_LIKE_RE = re.compile(r"^[vV]?[0-9]+$")
_FORBIDDEN_NAME_CHARS = ("/", ":", "@")
_STAGES_BY_LOWER = {s.value.lower(): s for s in Stage}


def _refuse_unsafe_chars(value: str, field: str) -> None:
    """Names hold no controls (C0, C1), format characters (bidirectional
    overrides, zero-width spaces and joiners) or line and paragraph
    separators (Unicode categories Cc, Cf, Zl, Zp): they make two names look
    alike, reorder what a terminal shows, or forge lines."""
    ch = first_unsafe(value)
    if ch is not None:
        raise InvalidArgument(
            f"{field} must not contain {code_point(ch)} "
            f"(a control or format character, category {unicodedata.category(ch)})"
        )


def model_name(name: str, field: str = "name") -> str:
    """``name``, checked, in NFC: the one spelling it is stored and looked up
    in (api/names.py normalises request fields as they arrive)."""
    name = unicodedata.normalize("NFC", name)
    if not name:
        raise InvalidArgument(f"{field} is required")
    if len(name) > MAX_NAME:
        raise InvalidArgument(f"{field} is longer than {MAX_NAME} characters")
    if name != name.strip():
        raise InvalidArgument(f"{field} must not start or end with whitespace")
    for ch in _FORBIDDEN_NAME_CHARS:
        if ch in name:
            raise InvalidArgument(f"{field} must not contain {ch!r}")
    _refuse_unsafe_chars(name, field)
    return name


def version_number(version: int, field: str = "version") -> int:
    if version <= 0:
        raise InvalidArgument(f"{field} must be a positive integer, got {version}")
    return version


def text(value: str, field: str, max_bytes: int = MAX_TEXT_BYTES) -> str:
    if len(value.encode("utf-8")) > max_bytes:
        raise InvalidArgument(f"{field} is larger than {max_bytes} bytes")
    return value


def short(value: str, field: str, max_chars: int = MAX_SHORT) -> str:
    if len(value) > max_chars:
        raise InvalidArgument(f"{field} is longer than {max_chars} characters")
    if "\x00" in value:
        raise InvalidArgument(f"{field} must not contain NUL characters")
    return value


def tag_key(key: str, field: str = "key") -> str:
    if not key:
        raise InvalidArgument(f"{field} is required")
    if len(key) > MAX_TAG_KEY:
        raise InvalidArgument(f"{field} is longer than {MAX_TAG_KEY} characters")
    _refuse_unsafe_chars(key, field)
    return key


def tag_value(value: str, field: str = "value") -> str:
    if "\x00" in value:
        raise InvalidArgument(f"{field} must not contain NUL characters")
    return text(value, field)


def tags(pairs: Iterable[tuple[str, str]], field: str = "tags") -> dict[str, str]:
    result: dict[str, str] = {}
    for index, (key, value) in enumerate(pairs):
        tag_key(key, f"{field}[{index}].key")
        tag_value(value, f"{field}[{index}].value")
        if key in result:
            raise InvalidArgument(f"{field}[{index}].key {key!r} is repeated")
        result[key] = value
        if len(result) > MAX_TAGS:
            raise InvalidArgument(
                f"{field} has more than {MAX_TAGS} entries (a model or version holds at most "
                f"{MAX_TAGS} tags)"
            )
    total = tags_bytes(result)
    if total > MAX_TAGS_BYTES:
        raise InvalidArgument(
            f"{field} hold {total} bytes of keys and values; a model or version holds at most "
            f"{MAX_TAGS_BYTES} bytes of tags"
        )
    return result


def tags_bytes(mapping: Mapping[str, str]) -> int:
    """The size the tag budget counts: keys and values, bytes of UTF-8."""
    return sum(len(k.encode("utf-8")) + len(v.encode("utf-8")) for k, v in mapping.items())


def tag_fits(existing: Mapping[str, str], key: str, value: str, owner: str) -> None:
    """Setting ``key`` to ``value`` keeps ``owner``'s tags within MAX_TAGS and
    MAX_TAGS_BYTES (replacing a tag frees its old size first)."""
    after = {**existing, key: value}
    if len(after) > MAX_TAGS:
        raise FailedPrecondition(
            f"key: {owner} already holds {MAX_TAGS} tags, the most it may; delete one first"
        )
    total = tags_bytes(after)
    if total > MAX_TAGS_BYTES:
        raise FailedPrecondition(
            f"value: {owner}'s tags would hold {total} bytes of keys and values; "
            f"at most {MAX_TAGS_BYTES} are allowed"
        )


def description(value: str, field: str = "description") -> str:
    if "\x00" in value:
        raise InvalidArgument(f"{field} must not contain NUL characters")
    return text(value, field)


def stage(value: str, field: str = "stage") -> Stage:
    found = _STAGES_BY_LOWER.get(value.strip().lower()) if value else None
    if found is None:
        allowed = ", ".join(s.value for s in Stage)
        raise InvalidArgument(f"{field} {value[:100]!r} is not one of {allowed}")
    return found


def stage_or_none(value: str) -> Stage | None:
    """Case-insensitive stage lookup that does not raise (for URI parsing)."""
    return _STAGES_BY_LOWER.get(value.lower())


def alias(name: str, field: str = "alias") -> str:
    if not name:
        raise InvalidArgument(f"{field} is required")
    if not _ALIAS_RE.match(name):
        raise InvalidArgument(f"{field} {name[:300]!r} must match ^[A-Za-z0-9_-]{{1,255}}$")
    if name.lower() == "latest" or _VERSION_LIKE_RE.match(name):
        raise InvalidArgument(
            f"{field} {name!r} is reserved: 'latest' and version-like names "
            "(7, v7) would be ambiguous in models:/ URIs"
        )
    return name


def idempotency_key(key: str, field: str = "idempotency_key") -> str:
    return short(key, field, MAX_IDEMPOTENCY_KEY)


def datasets(items: Iterable[Dataset], field: str = "lineage.datasets") -> tuple[Dataset, ...]:
    result = tuple(items)
    if len(result) > MAX_DATASETS:
        raise InvalidArgument(f"{field} has more than {MAX_DATASETS} entries")
    for index, item in enumerate(result):
        if not item.name and not item.digest:
            raise InvalidArgument(f"{field}[{index}] needs a name or a digest")
        short(item.name, f"{field}[{index}].name")
        short(item.digest, f"{field}[{index}].digest")
        short(item.source_uri, f"{field}[{index}].source_uri", MAX_URI)
    return result


def lineage(value: Lineage, field: str = "lineage") -> Lineage:
    short(value.run_id, f"{field}.run_id")
    short(value.run_link, f"{field}.run_link", MAX_URI)
    short(value.experiment_id, f"{field}.experiment_id")
    short(value.code_version, f"{field}.code_version")
    short(value.parent_model_uri, f"{field}.parent_model_uri", MAX_URI)
    datasets(value.datasets, f"{field}.datasets")
    return value


def merge_run_fields(lineage_value: Lineage, run_id: str, run_link: str) -> Lineage:
    """Fold MLflow's top-level run_id/run_link into the lineage, refusing conflicts."""
    if run_id and lineage_value.run_id and run_id != lineage_value.run_id:
        raise InvalidArgument("run_id and lineage.run_id differ; set one or make them equal")
    if run_link and lineage_value.run_link and run_link != lineage_value.run_link:
        raise InvalidArgument("run_link and lineage.run_link differ; set one or make them equal")
    return Lineage(
        run_id=lineage_value.run_id or run_id,
        run_link=lineage_value.run_link or run_link,
        experiment_id=lineage_value.experiment_id,
        code_version=lineage_value.code_version,
        datasets=lineage_value.datasets,
        parent_model_uri=lineage_value.parent_model_uri,
    )


def source(value: str, field: str = "source") -> str:
    return short(value, field, MAX_URI)


# Bytes of UTF-8, not characters: file systems and S3 stores count bytes.
MAX_ARTIFACT_PATH = 1024
# A file or folder name: NAME_MAX of common file systems (the local store
# would fail with ENAMETOOLONG) and MinIO's limit per path segment.
MAX_ARTIFACT_PATH_SEGMENT = 255
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def artifact_path(path: str, field: str = "path") -> str:
    """Relative, already-normalised POSIX paths only: what is stored is exactly
    what the caller named, and nothing can escape the version's folder."""
    if not path:
        raise InvalidArgument(f"{field} is required")
    if len(path.encode("utf-8")) > MAX_ARTIFACT_PATH:
        raise InvalidArgument(f"{field} is longer than {MAX_ARTIFACT_PATH} bytes of UTF-8")
    if "\\" in path:
        raise InvalidArgument(f"{field} {path!r} must use '/' and no backslashes")
    if path.startswith("/"):
        raise InvalidArgument(f"{field} {path!r} must be relative, not absolute")
    _refuse_unsafe_chars(path, field)
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidArgument(
                f"{field} {path!r} must be normalised: no empty, '.' or '..' segments"
            )
        if len(segment.encode("utf-8")) > MAX_ARTIFACT_PATH_SEGMENT:
            raise InvalidArgument(
                f"{field}: the name {segment[:40]!r}... is longer than "
                f"{MAX_ARTIFACT_PATH_SEGMENT} bytes of UTF-8"
            )
    return path


def sha256_hex(value: str, field: str) -> str:
    if not _SHA256_RE.match(value):
        raise InvalidArgument(f"{field} must be 64 lowercase hex characters")
    return value


def page_size(value: int, default: int = 100, maximum: int = 1000) -> int:
    if value == 0:
        return default
    if value < 0 or value > maximum:
        raise InvalidArgument(f"page_size must be between 1 and {maximum}, got {value}")
    return value


def tag_mapping(value: Mapping[str, str], field: str = "tags") -> dict[str, str]:
    return tags(value.items(), field)
