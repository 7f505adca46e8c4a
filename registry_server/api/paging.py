"""Pages over the short lists the domain returns whole: a version's files
(ListArtifacts), a model's grants (ListModelGrants), the access tokens
(ListAccessTokens).

The tokens follow the searches' (domain/search.py): url-safe base64 of a
small JSON object holding a fingerprint of the request the listing belongs to
and the sort key of the last item served. The next page is "items after that
key", not "items after position n", so an item added or removed between two
calls shifts nothing: no item is served twice and no surviving one skipped.
A token from another request (another model, version, URI or
include_inactive) is refused with INVALID_ARGUMENT naming page_token.

The default page (1,000, also the maximum) holds every file, grant or token
that exists in practice, so a caller that ignores next_page_token, as
clients written before these fields did, still gets the whole list.

Note: the paging happens here, over the full list, because the domain and the
store are being restructured; these lists are small (read in one indexed
query). Once the domain settles, the key and the limit belong in the store's
query, as for the searches, and this module shrinks to the token codec.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from registry_server.domain import validation
from registry_server.domain.errors import InvalidArgument

T = TypeVar("T")

#: page_size 0 means this many items.
DEFAULT_PAGE_SIZE = 1000
#: The largest page_size accepted.
MAX_PAGE_SIZE = 1000
#: Longer tokens are refused before decoding.
MAX_PAGE_TOKEN = 2048

#: The values a sort key may hold (a path, a principal, a token id).
Key = tuple[str | int, ...]

_MALFORMED = "page_token: malformed; pass the next_page_token of the previous page unchanged"


def _fingerprint(listing: str, request: Sequence[str | int | bool]) -> str:
    """Names one listing of one request: a token from another one is refused."""
    text = "\x00".join([listing, *(str(part) for part in request)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _encode(fingerprint: str, key: Key) -> str:
    payload = json.dumps({"f": fingerprint, "k": list(key)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode("utf-8")).decode("ascii").rstrip("=")


def _decode(token: str, fingerprint: str) -> list[str | int]:
    """The key in ``token``, checked against this request."""
    if len(token) > MAX_PAGE_TOKEN:
        raise InvalidArgument(_MALFORMED)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload: Any = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidArgument(_MALFORMED) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("f"), str):
        raise InvalidArgument(_MALFORMED)
    if payload["f"] != fingerprint:
        raise InvalidArgument(
            "page_token: it was issued for a different request; "
            "repeat the call without a page_token"
        )
    key = payload.get("k")
    # Exact types: True is not an id.
    if not isinstance(key, list) or not all(type(v) in (str, int) for v in key):
        raise InvalidArgument(_MALFORMED)
    return key


def page(
    items: Sequence[T],
    key: Callable[[T], Key],
    *,
    listing: str,
    request: Sequence[str | int | bool],
    page_size: int,
    page_token: str,
) -> tuple[list[T], str]:
    """One page of ``items`` and the token of the next ("" after the last).

    ``key`` gives each item a unique sort key whose ascending order is the
    listing's documented order (e.g. a negated id for "newest first");
    ``listing`` and ``request`` name what is listed, so that a token is only
    accepted for the request that produced it.
    """
    size = validation.page_size(page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    fingerprint = _fingerprint(listing, request)
    ordered = sorted(items, key=key)
    if page_token:
        after = _decode(page_token, fingerprint)
        if ordered:
            shape = key(ordered[0])
            if [type(v) for v in after] != [type(v) for v in shape]:
                raise InvalidArgument(_MALFORMED)
            ordered = [item for item in ordered if key(item) > tuple(after)]
    chosen = ordered[:size]
    more = len(ordered) > size
    return chosen, _encode(fingerprint, key(chosen[-1])) if more else ""


def key_token(key: Key, *, listing: str, request: Sequence[str | int | bool]) -> str:
    """The token of a page that ends at ``key``, for listings paged in the
    store's query (keyset) rather than here."""
    return _encode(_fingerprint(listing, request), key)


def token_key(
    page_token: str, *, listing: str, request: Sequence[str | int | bool]
) -> list[str | int]:
    """The key in a token from `key_token`, checked against this request."""
    return _decode(page_token, _fingerprint(listing, request))
