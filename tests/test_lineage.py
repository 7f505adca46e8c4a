"""GetModelVersionLineage through the real server and public client, on both
backends: chains across models, ordering, depth and size limits, renames,
deleted parents, versions that are not READY, and a constant number of SQL
statements whatever the depth."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from registry_client import (
    InvalidArgument,
    Lineage,
    ModelVersion,
    NotFound,
    RegistryClient,
    VersionLineage,
)
from registry_server.server import RunningServer


def _version(
    client: RegistryClient, name: str, parent: str = "", *, held: bool = False
) -> ModelVersion:
    """The next version of `name` (created on first use), derived from `parent`."""
    try:
        client.get_registered_model(name)
    except NotFound:
        client.create_registered_model(name)
    return client.create_model_version(
        name,
        source="" if held else f"s3://models/{name}",
        lineage=Lineage(parent_model_uri=parent),
        registry_held_artifacts=held,
    )


def _uri(v: ModelVersion) -> str:
    return f"models:/{v.name}/{v.version}"


def _uris(versions: tuple[ModelVersion, ...]) -> list[str]:
    return [_uri(v) for v in versions]


def _chain(client: RegistryClient, name: str, length: int) -> list[ModelVersion]:
    """Versions 1..length of `name`, each derived from the one before."""
    made = [_version(client, name)]
    for _ in range(length - 1):
        made.append(_version(client, name, _uri(made[-1])))
    return made


def test_chain_across_models(client: RegistryClient, model_name: str) -> None:
    base, tuned, distilled = (model_name + s for s in ("-base", "-tuned", "-distilled"))
    a1 = _version(client, base)
    _version(client, base)  # a2: unrelated
    client.set_registered_model_alias(base, "champion", 1)
    b1 = _version(client, tuned, _uri(a1))
    c1 = _version(client, distilled, _uri(b1))
    c2 = _version(client, distilled, _uri(c1))
    # Any resolvable form names the parent; the server pins the exact version.
    b2 = _version(client, tuned, f"models:/{base}@champion")
    assert b2.lineage.parent_model_uri == _uri(a1)

    root = client.get_model_version_lineage(base, 1)
    assert isinstance(root, VersionLineage)
    assert _uri(root.model_version) == _uri(a1)
    assert root.ancestors == ()
    # Nearest generation first, then model name, then version.
    assert _uris(root.descendants) == [_uri(b1), _uri(b2), _uri(c1), _uri(c2)]
    assert not root.truncated
    assert _uris(root.children_of(base, 1)) == [_uri(b1), _uri(b2)]
    assert _uris(root.children_of(tuned, 1)) == [_uri(c1)]

    leaf = client.get_model_version_lineage(distilled, "2")
    assert _uris(leaf.ancestors) == [_uri(c1), _uri(b1), _uri(a1)]
    assert leaf.descendants == () and not leaf.truncated

    middle = client.get_model_version_lineage(tuned, 1)
    assert _uris(middle.ancestors) == [_uri(a1)]
    assert _uris(middle.descendants) == [_uri(c1), _uri(c2)]
    # Hydrated like any other read: stage, tags and lineage fields are there.
    assert middle.descendants[0].lineage.parent_model_uri == _uri(b1)
    assert middle.model_version.source == f"s3://models/{tuned}"

    lone = client.get_model_version_lineage(base, 2)
    assert (lone.ancestors, lone.descendants, lone.truncated) == ((), (), False)


def test_order_is_generation_then_name_then_version(
    client: RegistryClient, model_name: str
) -> None:
    root = _version(client, model_name + "-root")
    parent = _uri(root)
    # Code point order: "B" < "a" < "b", whatever the database's locale.
    b1 = _version(client, model_name + "-b", parent)
    a1 = _version(client, model_name + "-a", parent)
    upper = _version(client, model_name + "-B", parent)
    b2 = _version(client, model_name + "-b", parent)
    grandchild = _version(client, model_name + "-0", _uri(b2))  # sorts first by name only
    a2 = _version(client, model_name + "-a", parent)

    found = client.get_model_version_lineage(root.name, root.version)
    assert _uris(found.descendants) == [
        _uri(upper),
        _uri(a1),
        _uri(a2),
        _uri(b1),
        _uri(b2),
        _uri(grandchild),
    ]


def test_depth_limits_and_truncation(client: RegistryClient, model_name: str) -> None:
    v = _chain(client, model_name, 6)  # v[0] <- v[1] <- ... <- v[5]

    def lineage(index: int, depth: int) -> VersionLineage:
        return client.get_model_version_lineage(model_name, v[index].version, max_depth=depth)

    two = lineage(2, 2)
    assert _uris(two.ancestors) == [_uri(v[1]), _uri(v[0])]  # the whole way up
    assert _uris(two.descendants) == [_uri(v[3]), _uri(v[4])]  # v[5] cut off
    assert two.truncated
    exact = lineage(2, 3)  # reaches both ends exactly: nothing cut
    assert _uris(exact.descendants) == [_uri(v[3]), _uri(v[4]), _uri(v[5])]
    assert not exact.truncated
    one = lineage(2, 1)
    assert (_uris(one.ancestors), _uris(one.descendants)) == ([_uri(v[1])], [_uri(v[3])])
    assert one.truncated

    top = lineage(5, 5)
    assert _uris(top.ancestors) == [_uri(x) for x in reversed(v[:5])]
    assert not top.truncated
    cut_above = lineage(5, 4)  # only ancestors are cut
    assert _uris(cut_above.ancestors) == [_uri(x) for x in reversed(v[1:5])]
    assert cut_above.descendants == () and cut_above.truncated
    cut_below = lineage(0, 5)
    assert len(cut_below.descendants) == 5 and not cut_below.truncated
    assert lineage(0, 4).truncated

    with pytest.raises(InvalidArgument, match="max_depth"):
        lineage(2, 101)
    with pytest.raises(InvalidArgument, match="max_depth"):
        lineage(2, -1)


def test_default_depth_is_100(client: RegistryClient, model_name: str) -> None:
    v = _chain(client, model_name, 102)
    top = client.get_model_version_lineage(model_name, v[-1].version)  # max_depth 0
    assert len(top.ancestors) == 100 and top.truncated
    assert top.ancestors[0].version == 101 and top.ancestors[-1].version == 2
    bottom = client.get_model_version_lineage(model_name, 1)
    assert [d.version for d in bottom.descendants] == list(range(2, 102))
    assert bottom.truncated
    almost = client.get_model_version_lineage(model_name, 2, max_depth=100)
    assert len(almost.descendants) == 100 and len(almost.ancestors) == 1
    assert not almost.truncated


@pytest.mark.slow  # a thousand versions per backend
def test_at_most_1000_descendants(client: RegistryClient, model_name: str) -> None:
    root = _version(client, model_name)
    children = [f"{model_name}-c{i}" for i in range(8)]
    for child in children:
        client.create_registered_model(child)

    def fill(child: str) -> None:
        for _ in range(125):
            client.create_model_version(child, lineage=Lineage(parent_model_uri=_uri(root)))

    # One thread per child model: creates on different models run in parallel.
    with ThreadPoolExecutor(len(children)) as pool:
        list(pool.map(fill, children))
    expected = [f"models:/{c}/{n}" for c in children for n in range(1, 126)]
    full = client.get_model_version_lineage(model_name, 1, max_depth=1)
    assert _uris(full.descendants) == expected
    assert not full.truncated  # exactly 1,000: nothing left out
    _version(client, model_name + "-c8", _uri(root))  # the 1,001st, last in order
    cut = client.get_model_version_lineage(model_name, 1)
    assert _uris(cut.descendants) == expected
    assert cut.truncated


def test_deleted_parent_ends_the_chain(client: RegistryClient, model_name: str) -> None:
    base, tuned, distilled = (model_name + s for s in ("-base", "-tuned", "-distilled"))
    a1 = _version(client, base)
    b1 = _version(client, tuned, _uri(a1))
    c1 = _version(client, distilled, _uri(b1))
    other = _version(client, distilled, _uri(a1))

    client.delete_model_version(tuned, 1)
    orphan = client.get_model_version_lineage(distilled, c1.version)
    assert orphan.ancestors == ()
    # The link is gone, the record of where it came from stays.
    assert orphan.model_version.lineage.parent_model_uri == _uri(b1)
    assert _uris(client.get_model_version_lineage(base, 1).descendants) == [_uri(other)]

    client.delete_registered_model(base)
    assert client.get_model_version_lineage(distilled, other.version).ancestors == ()
    with pytest.raises(NotFound):
        client.get_model_version_lineage(base, 1)


def test_lineage_survives_renames(client: RegistryClient, model_name: str) -> None:
    base, tuned = model_name + "-base", model_name + "-tuned"
    a1 = _version(client, base)
    _version(client, tuned, _uri(a1))
    renamed = model_name + "-base2"
    client.rename_registered_model(base, renamed)
    client.rename_registered_model(tuned, tuned + "2")

    child = client.get_model_version_lineage(tuned + "2", 1)
    assert _uris(child.ancestors) == [f"models:/{renamed}/1"]
    assert child.model_version.lineage.parent_model_uri == f"models:/{renamed}/1"
    parent = client.get_model_version_lineage(renamed, 1)
    assert _uris(parent.children_of(renamed, 1)) == [f"models:/{tuned}2/1"]


def test_versions_that_are_not_ready_appear_with_their_status(
    client: RegistryClient, model_name: str
) -> None:
    root = _version(client, model_name)
    pending = _version(client, model_name + "-x", _uri(root), held=True)
    failed = _version(client, model_name + "-x", _uri(root), held=True)
    client.abort_model_version(failed.name, failed.version, "bad files")
    ready = _version(client, model_name + "-x", _uri(root))
    # Only READY versions can be named as parents, so these stay leaves.

    found = client.get_model_version_lineage(model_name, 1)
    assert [(_uri(d), d.status) for d in found.descendants] == [
        (_uri(pending), "PENDING_REGISTRATION"),
        (_uri(failed), "FAILED_REGISTRATION"),
        (_uri(ready), "READY"),
    ]
    assert client.get_model_version_lineage(pending.name, pending.version).ancestors[0].status == (
        "READY"
    )


def test_errors(client: RegistryClient, model_name: str) -> None:
    _version(client, model_name)
    with pytest.raises(NotFound, match=r"version 9 of registered model"):
        client.get_model_version_lineage(model_name, 9)
    with pytest.raises(NotFound, match=r"registered model .* not found"):
        client.get_model_version_lineage(model_name + "-never", 1)
    with pytest.raises(InvalidArgument, match="version"):
        client.get_model_version_lineage(model_name, 0)
    with pytest.raises(InvalidArgument, match="name"):
        client.get_model_version_lineage("bad/name", 1)


@contextmanager
def _counting_statements(server: RunningServer) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # The webhook sender's background polls (events/webhook_sender.py)
        # run on the same engine; they are not the call's statements.
        if "webhook_deliveries" in statement:
            return
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append(statement)

    engine = server.database.read_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_queries_do_not_grow_with_depth(
    client: RegistryClient, registry: RunningServer, model_name: str
) -> None:
    short = _chain(client, model_name + "-short", 2)
    deep = _chain(client, model_name + "-deep", 30)
    with _counting_statements(registry) as for_short:
        client.get_model_version_lineage(short[0].name, 1)
    with _counting_statements(registry) as for_deep:
        found = client.get_model_version_lineage(deep[0].name, 15)
    assert len(found.ancestors) == 14 and len(found.descendants) == 15
    assert len(for_short) == len(for_deep) == 2
