"""Paging of SearchRegisteredModels and SearchModelVersions through the real server,
on SQLite and PostgreSQL: page sizes and their limits, page tokens bound to their
search, and pages that stay consistent while other calls add and delete rows.

Tests share one database per backend, so every filter is restricted to the
test's own names (``name LIKE '<prefix>%'``, with LIKE's wildcards in the
prefix escaped).
"""

from __future__ import annotations

import base64
import json

import grpc
import pytest
from support.search import MAX_PAGES, like_prefix, version_keys

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client import InvalidArgument, RegistryClient


def test_page_sizes_split_without_gaps_or_empty_pages(
    client: RegistryClient, model_name: str
) -> None:
    names = [f"{model_name}-{i:02d}" for i in range(7)]
    for name in names:
        client.create_registered_model(name)
    f = f"name LIKE '{like_prefix(model_name)}'"
    for size in (1, 2, 3, 6, 7, 8, 1000):
        pages: list[list[str]] = []
        token = None
        for _ in range(MAX_PAGES):
            page = client.search_registered_models(f, max_results=size, page_token=token)
            pages.append([m.name for m in page])
            token = page.token
            if token is None:
                break
        assert [n for page in pages for n in page] == names, size
        # Reading one row more than asked tells the last page apart: no empty
        # trailing page, even when the rows divide evenly (7 by 7, 1 by 1).
        assert [len(page) for page in pages] == [
            min(size, len(names) - i) for i in range(0, len(names), size)
        ], size


def test_page_size_limits(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    for _ in range(101):
        client.create_model_version(model_name, source="s3://x")
    f = f"name = '{model_name}'"
    first = client.search_model_versions(f, max_results=0)
    assert len(first) == 100 and first.token is not None
    assert [v.version for v in first] == list(range(101, 1, -1))
    rest = client.search_model_versions(f, max_results=0, page_token=first.token)
    assert [v.version for v in rest] == [1] and rest.token is None
    assert len(client.search_model_versions(f, max_results=1000)) == 101
    for bad in (1001, -1, 2**31 - 1):
        with pytest.raises(InvalidArgument, match=r"^INVALID_ARGUMENT: page_size"):
            client.search_model_versions(f, max_results=bad)
        with pytest.raises(InvalidArgument, match=r"^INVALID_ARGUMENT: page_size"):
            client.search_registered_models(f, max_results=bad)


def test_page_token_misuse_is_invalid_argument(
    client: RegistryClient, model_name: str, stub: registry_pb2_grpc.ModelRegistryStub
) -> None:
    for i in range(3):
        client.create_registered_model(f"{model_name}-{i}")
        client.create_model_version(
            f"{model_name}-{i}", source="s3://x", run_id=f"run-{model_name}"
        )
    f = f"name LIKE '{like_prefix(model_name)}'"
    token = client.search_registered_models(f, max_results=1).token
    assert token
    # The same search with another page size is fine.
    assert len(client.search_registered_models(f, max_results=5, page_token=token)) == 2
    misuse = [
        lambda: client.search_registered_models(f + " AND name != 'x'", 1, page_token=token),
        lambda: client.search_registered_models(f, 1, ["name DESC"], page_token=token),
        lambda: client.search_registered_models(f, 1, ["creation_timestamp"], page_token=token),
        lambda: client.search_model_versions(f, 1, page_token=token),
    ]
    for call in misuse:
        with pytest.raises(
            InvalidArgument, match=r"^INVALID_ARGUMENT: page_token: it was issued for a different"
        ):
            call()
    payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    payload["c"][0] = 12345  # a name must be a string
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    for bad in ("garbage", "e30", forged, token[:-3], "'; DROP TABLE registered_models; --"):
        with pytest.raises(InvalidArgument, match=r"^INVALID_ARGUMENT: page_token: "):
            client.search_registered_models(f, 1, page_token=bad)

    run_page = stub.FindModelVersionsByRun(
        pb.FindModelVersionsByRunRequest(run_id=f"run-{model_name}", page_size=1)
    )
    assert run_page.next_page_token
    with pytest.raises(grpc.RpcError) as info:
        stub.FindModelVersionsByRun(
            pb.FindModelVersionsByRunRequest(
                run_id="another-run", page_size=1, page_token=run_page.next_page_token
            )
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("page_token: ")


def test_pages_stay_consistent_while_models_are_added_and_deleted(
    client: RegistryClient, model_name: str
) -> None:
    """Between pages, insert a row behind the cursor and one ahead of it,
    delete the cursor row itself and the last row not served yet. Every row
    that lives through the walk is served exactly once, in order; rows
    inserted ahead are served, rows inserted behind or deleted before their
    turn are not. (Three-digit names sort the same under any collation.)"""
    p = model_name
    original = [f"{p}-{n}" for n in range(100, 400, 20)]
    for name in original:
        client.create_registered_model(name)
    existing = set(original)
    used = {int(name[-3:]) for name in original}
    inserted_ahead: set[str] = set()
    inserted_behind: set[str] = set()
    deleted_unseen: set[str] = set()
    f = f"name LIKE '{like_prefix(p)}'"
    seen: list[str] = []
    token = None
    for _ in range(MAX_PAGES):
        page = client.search_registered_models(f, max_results=3, page_token=token)
        seen.extend(m.name for m in page)
        token = page.token
        if token is None:
            break
        cursor = int(seen[-1][-3:])
        behind = next(n for n in range(cursor - 1, 99, -1) if n not in used)
        ahead = next(n for n in range(cursor + 1, 1000) if n not in used)
        for n, bucket in ((behind, inserted_behind), (ahead, inserted_ahead)):
            client.create_registered_model(f"{p}-{n}")
            used.add(n)
            existing.add(f"{p}-{n}")
            bucket.add(f"{p}-{n}")
        client.delete_registered_model(seen[-1])
        existing.discard(seen[-1])
        last_unseen = max(n for n in existing if n > seen[-1])
        client.delete_registered_model(last_unseen)
        existing.discard(last_unseen)
        deleted_unseen.add(last_unseen)
    assert len(seen) == len(set(seen)), "a row was served twice"
    assert seen == sorted(seen)
    assert set(seen) == (set(original) | inserted_ahead) - deleted_unseen
    assert not set(seen) & inserted_behind
    assert len(deleted_unseen) >= 3 and len(inserted_ahead) >= 3


def test_version_pages_stay_consistent_newest_first_while_others_write(
    client: RegistryClient, model_name: str
) -> None:
    a, b = f"{model_name}-a", f"{model_name}-b"
    client.create_registered_model(a)
    client.create_registered_model(b)
    for i in range(12):
        client.create_model_version(a if i % 2 else b, source="s3://x")
    f = f"name LIKE '{like_prefix(model_name)}'"
    order = ["creation_timestamp DESC"]
    before = version_keys(client, f, order)
    seen: list[tuple[str, int]] = []
    deleted: set[tuple[str, int]] = set()
    token = None
    for _ in range(MAX_PAGES):
        page = client.search_model_versions(f, 4, order, page_token=token)
        seen.extend((v.name, v.version) for v in page)
        token = page.token
        if token is None:
            break
        # New versions are newer than anything seen: behind a DESC cursor.
        client.create_model_version(a, source="s3://new")
        unseen = [k for k in before if k not in seen and k not in deleted]
        victim = unseen[len(unseen) // 2]
        client.delete_model_version(*victim)
        deleted.add(victim)
        client.delete_model_version(*seen[-1])
    assert len(seen) == len(set(seen))
    assert seen == [k for k in before if k not in deleted]


def test_default_version_order_serves_new_rows_ahead_of_the_cursor_once(
    client: RegistryClient, model_name: str
) -> None:
    """Default order is name ASC, version DESC (mixed directions). A new
    version of b sorts first within b: ahead of the cursor while the walk is
    still in a, behind it once the walk has reached b."""
    a, b = f"{model_name}-a", f"{model_name}-b"
    client.create_registered_model(a)
    client.create_registered_model(b)
    for _ in range(6):
        client.create_model_version(a, source="s3://x")
        client.create_model_version(b, source="s3://x")
    f = f"name LIKE '{like_prefix(model_name)}'"
    pages: list[list[tuple[str, int]]] = []
    token = None
    for _ in range(MAX_PAGES):
        page = client.search_model_versions(f, 3, page_token=token)
        pages.append([(v.name, v.version) for v in page])
        token = page.token
        if token is None:
            break
        client.create_model_version(b, source="s3://new")
    assert pages == [
        [(a, 6), (a, 5), (a, 4)],  # then b7 is created: ahead
        [(a, 3), (a, 2), (a, 1)],  # then b8: ahead
        [(b, 8), (b, 7), (b, 6)],  # then b9: behind
        [(b, 5), (b, 4), (b, 3)],  # then b10: behind
        [(b, 2), (b, 1)],
    ]
