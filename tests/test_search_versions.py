"""SearchModelVersions and FindModelVersionsBy{Run,Dataset} through the real server
and the public client, on SQLite and PostgreSQL: every field, orderings, what each
result carries, paging newest first.

Tests share one database per backend, so every filter is restricted to the
test's own names (``name LIKE '<prefix>%'``, with LIKE's wildcards in the
prefix escaped).
"""

from __future__ import annotations

import grpc
import pytest
from support.search import MAX_PAGES, like_prefix, tick, version_keys

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client import Dataset, InvalidArgument, Lineage, ModelVersion, RegistryClient


@pytest.fixture
def versions_fixture(client: RegistryClient, model_name: str) -> dict[str, ModelVersion]:
    """x1..x4 on <p>-x and y1 on <p>-y, covering every searchable field."""
    p = model_name
    x, y = f"{p}-x", f"{p}-y"
    client.create_registered_model(x)
    client.create_registered_model(y)
    client.create_model_version(
        x,
        source="s3://bucket/x/1",
        run_id=f"run-{p}-1",
        tags={"framework": "xgboost"},
        description="first",
        lineage=Lineage(datasets=(Dataset(name="tx", digest=f"sha:{p}:1"),)),
    )
    tick()
    client.create_model_version(
        x,
        source="s3://bucket/x/2",
        run_id=f"run-{p}-2",
        tags={"framework": "torch"},
        lineage=Lineage(
            datasets=(Dataset(name="tx-2", digest=f"sha:{p}:2"), Dataset(name="holdout")),
        ),
    )
    client.transition_model_version_stage(x, 2, "Production")
    client.set_registered_model_alias(x, "champion", 2)
    tick()
    client.create_model_version(x, registry_held_artifacts=True)  # stays pending
    tick()
    client.create_model_version(x, registry_held_artifacts=True)
    client.abort_model_version(x, 4, reason="test")
    tick()
    client.create_model_version(
        y,
        source="s3://bucket/y/1",
        run_id=f"run-{p}-1",
        tags={"framework": "xgboost"},
        lineage=Lineage(datasets=(Dataset(name="tx", digest=f"sha:{p}:1"),)),
    )
    client.transition_model_version_stage(y, 1, "staging")
    found = {f"x{n}": client.get_model_version(x, n) for n in (1, 2, 3, 4)}
    found["y1"] = client.get_model_version(y, 1)
    return found


def test_search_versions_by_every_field(
    client: RegistryClient, model_name: str, versions_fixture: dict[str, ModelVersion]
) -> None:
    p = model_name
    assert versions_fixture["x3"].status == "PENDING_REGISTRATION"
    assert versions_fixture["x4"].status == "FAILED_REGISTRATION"
    x2 = versions_fixture["x2"]

    def when(keep: object) -> set[str]:
        return {k for k, v in versions_fixture.items() if keep(v)}  # type: ignore[operator]

    cases: list[tuple[str, set[str]]] = [
        (f"name = '{p}-y'", {"y1"}),
        ("version_number = 2", {"x2"}),
        ("version = 2", {"x2"}),
        ("version_number != 1", {"x2", "x3", "x4"}),
        ("version_number < 2", {"x1", "y1"}),
        ("version_number <= 2", {"x1", "x2", "y1"}),
        ("version_number > 2", {"x3", "x4"}),
        ("version_number >= 3", {"x3", "x4"}),
        ("version_number IN (1, 4)", {"x1", "x4", "y1"}),
        ("version_number NOT IN (1)", {"x2", "x3", "x4"}),
        (f"run_id = 'run-{p}-1'", {"x1", "y1"}),
        ("run_id LIKE 'run-%-2'", {"x2"}),
        (f"run_id IN ('run-{p}-2', 'other')", {"x2"}),
        ("source_path = 's3://bucket/x/1'", {"x1"}),
        ("source LIKE 's3://bucket/y/%'", {"y1"}),
        ("source_path ILIKE 'S3://BUCKET/X/%'", {"x1", "x2"}),
        ("source_path LIKE 'models:/%'", {"x3", "x4"}),
        ("current_stage = 'production'", {"x2"}),
        ("stage = 'Staging'", {"y1"}),
        ("current_stage IN ('PRODUCTION', 'staging')", {"x2", "y1"}),
        ("current_stage != 'None'", {"x2", "y1"}),
        ("current_stage = 'none'", {"x1", "x3", "x4"}),
        ("current_stage LIKE 'Prod%'", {"x2"}),
        ("status = 'READY'", {"x1", "x2", "y1"}),
        ("status = 'pending_registration'", {"x3"}),
        ("status = 'FAILED_REGISTRATION'", {"x4"}),
        ("status != 'READY'", {"x3", "x4"}),
        ("status NOT IN ('READY', 'FAILED_REGISTRATION')", {"x3"}),
        ("description = 'first'", {"x1"}),
        ("description LIKE 'fir%'", {"x1"}),
        ("description ILIKE 'FIRST'", {"x1"}),
        ("tags.framework = 'xgboost'", {"x1", "y1"}),
        ("tags.framework != 'xgboost'", {"x2"}),
        ("tags.framework LIKE '%o%'", {"x1", "x2", "y1"}),
        ("alias = 'champion'", {"x2"}),
        ("alias != 'champion'", set()),
        (f"dataset.digest = 'sha:{p}:1'", {"x1", "y1"}),
        (f"dataset.digest IN ('sha:{p}:2', 'nope')", {"x2"}),
        ("dataset.name LIKE 'tx%'", {"x1", "x2", "y1"}),
        ("dataset.name = 'holdout'", {"x2"}),
        ("dataset.name = 'tx-2'", {"x2"}),
        (
            f"creation_timestamp >= {x2.creation_timestamp}",
            when(lambda v: v.creation_timestamp >= x2.creation_timestamp),
        ),
        (
            f"creation_timestamp < {x2.creation_timestamp}",
            when(lambda v: v.creation_timestamp < x2.creation_timestamp),
        ),
        (
            f"last_updated_timestamp > {x2.last_updated_timestamp}",
            when(lambda v: v.last_updated_timestamp > x2.last_updated_timestamp),
        ),
        (
            f"name = '{p}-x' AND (current_stage = 'Production' OR status = 'FAILED_REGISTRATION')",
            {"x2", "x4"},
        ),
        (
            f"run_id = 'run-{p}-1' AND tags.framework = 'xgboost' OR version_number = 3",
            {"x1", "y1", "x3"},
        ),
    ]
    assert when(lambda v: v.creation_timestamp < x2.creation_timestamp) == {"x1"}
    for condition, expected in cases:
        found = version_keys(client, f"name LIKE '{like_prefix(p)}' AND ({condition})")
        wanted = [(versions_fixture[k].name, versions_fixture[k].version) for k in expected]
        wanted.sort(key=lambda nv: (nv[0], -nv[1]))
        assert found == wanted, condition


def test_version_results_carry_aliases_tags_and_lineage(
    client: RegistryClient, model_name: str, versions_fixture: dict[str, ModelVersion]
) -> None:
    page = client.search_model_versions(f"name LIKE '{like_prefix(model_name)}'")
    assert page.token is None
    by_key = {(v.name, v.version): v for v in page}
    for expected in versions_fixture.values():
        assert by_key[(expected.name, expected.version)] == expected
    assert by_key[(f"{model_name}-x", 2)].aliases == ("champion",)
    assert by_key[(f"{model_name}-x", 2)].lineage.datasets[1].name == "holdout"


def test_version_orderings(client: RegistryClient, model_name: str) -> None:
    p = model_name
    a, b = f"{p}-a", f"{p}-b"
    client.create_registered_model(a)
    client.create_registered_model(b)
    created = [(b, 1), (a, 1), (a, 2), (b, 2), (a, 3)]
    for name, _ in created:
        client.create_model_version(name, source="s3://x")
        tick()
    updated = [(a, 2), (b, 1), (a, 3), (a, 1), (b, 2)]
    for name, version in updated:
        client.update_model_version(name, version, description="touched")
        tick()
    f = f"name LIKE '{like_prefix(p)}'"
    cases: list[tuple[list[str] | None, list[tuple[str, int]]]] = [
        (None, [(a, 3), (a, 2), (a, 1), (b, 2), (b, 1)]),
        (["name DESC", "version_number"], [(b, 1), (b, 2), (a, 1), (a, 2), (a, 3)]),
        (["version_number", "name DESC"], [(b, 1), (a, 1), (b, 2), (a, 2), (a, 3)]),
        (["version_number DESC", "name"], [(a, 3), (a, 2), (b, 2), (a, 1), (b, 1)]),
        (["creation_timestamp"], created),
        (["creation_timestamp DESC"], created[::-1]),
        (["last_updated_timestamp"], updated),
        (["last_updated_timestamp DESC"], updated[::-1]),
    ]
    for order_by, expected in cases:
        assert version_keys(client, f, order_by) == expected, order_by
        assert version_keys(client, f, order_by, page_size=1) == expected, order_by
        assert version_keys(client, f, order_by, page_size=2) == expected, order_by


# --------------------------------------------------- find by run / dataset


def test_find_by_run_and_dataset_page_newest_first(
    client: RegistryClient, model_name: str, stub: registry_pb2_grpc.ModelRegistryStub
) -> None:
    p = model_name
    run, digest = f"run-{p}", f"sha256:{p}"
    client.create_registered_model(f"{p}-a")
    client.create_registered_model(f"{p}-b")
    made = []
    for i in range(5):
        name = f"{p}-a" if i % 2 else f"{p}-b"
        datasets = (Dataset(name="d", digest=digest), Dataset(name="again", digest=digest))
        v = client.create_model_version(
            name, source="s3://x", run_id=run, lineage=Lineage(datasets=datasets)
        )
        made.append((v.name, v.version))
        client.create_model_version(name, source="s3://x", run_id=f"{run}-other")
        tick()
    newest_first = made[::-1]

    assert [(v.name, v.version) for v in client.find_model_versions_by_run(run)] == newest_first
    # Listed once although the data set appears twice in its lineage.
    assert [
        (v.name, v.version) for v in client.find_model_versions_by_dataset(digest)
    ] == newest_first

    for rpc, request in (
        (
            stub.FindModelVersionsByRun,
            lambda t: pb.FindModelVersionsByRunRequest(run_id=run, page_size=2, page_token=t),
        ),
        (
            stub.FindModelVersionsByDataset,
            lambda t: pb.FindModelVersionsByDatasetRequest(
                digest=digest, page_size=2, page_token=t
            ),
        ),
    ):
        pages, token = [], ""
        for _ in range(MAX_PAGES):
            response = rpc(request(token))
            pages.append([(v.name, v.version) for v in response.model_versions])
            token = response.next_page_token
            if not token:
                break
        assert [len(page) for page in pages] == [2, 2, 1]
        assert [k for page in pages for k in page] == newest_first

    assert client.find_model_versions_by_run(f"{run}-none") == []
    assert client.find_model_versions_by_dataset(f"{digest}-none") == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("run_id", "", "run_id is required"),
        ("run_id", "r" * 257, "run_id is longer than 256 characters"),
        ("digest", "", "digest is required"),
        ("digest", "d" * 257, "digest is longer than 256 characters"),
    ],
)
def test_find_by_run_and_dataset_validate(
    client: RegistryClient, field: str, value: str, message: str
) -> None:
    call = (
        client.find_model_versions_by_run
        if field == "run_id"
        else client.find_model_versions_by_dataset
    )
    with pytest.raises(InvalidArgument) as info:
        call(value)
    assert info.value.message == message


def test_find_by_run_validates_page_size(stub: registry_pb2_grpc.ModelRegistryStub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.FindModelVersionsByRun(pb.FindModelVersionsByRunRequest(run_id="r", page_size=1001))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("page_size")
    with pytest.raises(grpc.RpcError) as info:
        stub.FindModelVersionsByDataset(
            pb.FindModelVersionsByDatasetRequest(digest="d", page_size=-1)
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("page_size")
