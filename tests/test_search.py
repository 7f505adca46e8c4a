"""SearchRegisteredModels, SearchModelVersions and FindModelVersionsBy{Run,Dataset}
through the real server and the public client, on SQLite and PostgreSQL.

Tests share one database per backend, so every filter is restricted to the
test's own names (``name LIKE '<prefix>%'``, with LIKE's wildcards in the
prefix escaped).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence

import grpc
import pytest
from sqlalchemy import func, inspect, select
from support.waiting import next_millisecond

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc
from registry_client import (
    Dataset,
    InvalidArgument,
    Lineage,
    ModelVersion,
    RegisteredModel,
    RegistryClient,
)
from registry_server.server import RunningServer
from registry_server.store.schema import metadata


@pytest.fixture
def stub(target: str) -> Iterator[registry_pb2_grpc.ModelRegistryStub]:
    """The raw stub, for page sizes the client's find_* helpers do not expose."""
    with grpc.insecure_channel(target) as channel:
        yield registry_pb2_grpc.ModelRegistryStub(channel)


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching names that start with ``prefix`` literally."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def tick() -> None:
    """Let the millisecond clock move, so timestamps order rows strictly."""
    next_millisecond()


MAX_PAGES = 500


def all_models(
    client: RegistryClient,
    filter_string: str,
    order_by: Sequence[str] | None = None,
    page_size: int = 100,
) -> list[RegisteredModel]:
    """Every page of a model search; fails (instead of looping forever) if
    the pages never end, as they would if the keyset step were wrong."""
    found: list[RegisteredModel] = []
    token = None
    for _ in range(MAX_PAGES):
        page = client.search_registered_models(filter_string, page_size, order_by, token)
        found.extend(page)
        token = page.token
        if token is None:
            return found
    raise AssertionError(f"more than {MAX_PAGES} pages for {filter_string!r}")


def all_versions(
    client: RegistryClient,
    filter_string: str,
    order_by: Sequence[str] | None = None,
    page_size: int = 100,
) -> list[ModelVersion]:
    found: list[ModelVersion] = []
    token = None
    for _ in range(MAX_PAGES):
        page = client.search_model_versions(filter_string, page_size, order_by, token)
        found.extend(page)
        token = page.token
        if token is None:
            return found
    raise AssertionError(f"more than {MAX_PAGES} pages for {filter_string!r}")


def model_names(
    client: RegistryClient,
    filter_string: str,
    order_by: Sequence[str] | None = None,
    page_size: int = 100,
) -> list[str]:
    return [m.name for m in all_models(client, filter_string, order_by, page_size)]


def version_keys(
    client: RegistryClient,
    filter_string: str,
    order_by: Sequence[str] | None = None,
    page_size: int = 100,
) -> list[tuple[str, int]]:
    return [(v.name, v.version) for v in all_versions(client, filter_string, order_by, page_size)]


# --------------------------------------------------------------- model fields


@pytest.fixture
def three_models(client: RegistryClient, model_name: str) -> dict[str, RegisteredModel]:
    p = model_name
    client.create_registered_model(
        f"{p}-alpha",
        tags={"team": "risk", "key with space": "it's", "quote": 'say "hi"'},
        description="Fraud scores",
    )
    tick()
    client.create_registered_model(
        f"{p}-beta", tags={"team": "growth", "tier": "1"}, description="churn 100%"
    )
    tick()
    client.create_registered_model(f"{p}-Gamma", description="churn 1000")
    client.create_model_version(f"{p}-alpha", source="s3://a")
    client.set_registered_model_alias(f"{p}-alpha", "champion", 1)
    client.create_model_version(f"{p}-beta", source="s3://b")
    client.set_registered_model_alias(f"{p}-beta", "challenger", 1)
    return {
        short: client.get_registered_model(f"{p}-{short}") for short in ("alpha", "beta", "Gamma")
    }


def test_search_models_by_every_field_and_operator(
    client: RegistryClient, model_name: str, three_models: dict[str, RegisteredModel]
) -> None:
    p = model_name
    beta = three_models["beta"]
    created = beta.creation_timestamp
    updated = beta.last_updated_timestamp

    def when(attribute: str, keep: object) -> set[str]:
        return {k for k, m in three_models.items() if keep(getattr(m, attribute))}  # type: ignore[operator]

    cases: list[tuple[str, set[str]]] = [
        (f"name = '{p}-alpha'", {"alpha"}),
        (f"name != '{p}-alpha'", {"beta", "Gamma"}),
        (f"attribute.name = '{p}-beta'", {"beta"}),
        (f"attributes.name = '{p}-beta'", {"beta"}),
        ("name LIKE '%-Gamma'", {"Gamma"}),
        ("name LIKE '%-gamma'", set()),  # LIKE is case-sensitive on both backends
        ("name ILIKE '%-GAMMA'", {"Gamma"}),
        ("name LIKE '%-_eta'", {"beta"}),
        # 't' is not a hex digit: the random part of the prefix cannot match.
        ("name NOT LIKE '%-bet%'", {"alpha", "Gamma"}),
        ("name NOT ILIKE '%-G%'", {"alpha", "beta"}),
        (f"name IN ('{p}-alpha', '{p}-beta', 'nope')", {"alpha", "beta"}),
        (f"name NOT IN ('{p}-alpha')", {"beta", "Gamma"}),
        ("tags.team = 'risk'", {"alpha"}),
        ("tags.team != 'risk'", {"beta"}),  # has the tag, with another value
        ("tags.team LIKE 'r%'", {"alpha"}),
        ("tags.team LIKE 'R%'", set()),
        ("tags.team ILIKE 'R%'", {"alpha"}),
        ("tags.team NOT LIKE 'r%'", {"beta"}),
        ("tags.team NOT ILIKE 'R%'", {"beta"}),
        ("tags.team IN ('risk', 'growth')", {"alpha", "beta"}),
        ("tags.team NOT IN ('risk')", {"beta"}),
        ("tags.`key with space` = 'it''s'", {"alpha"}),
        ('tags."key with space" = "it\'s"', {"alpha"}),
        ('tags.quote = "say ""hi"""', {"alpha"}),
        ("tag.tier = '1'", {"beta"}),
        ("tags.missing = 'x'", set()),
        ("alias = 'champion'", {"alpha"}),
        ("alias != 'champion'", {"beta"}),  # has an alias other than champion
        ("alias IN ('champion', 'challenger')", {"alpha", "beta"}),
        ("alias LIKE 'ch%'", {"alpha", "beta"}),
        ("alias ILIKE 'CHAMP%'", {"alpha"}),
        ("alias NOT IN ('champion')", {"beta"}),
        ("description = 'Fraud scores'", {"alpha"}),
        ("description != 'Fraud scores'", {"beta", "Gamma"}),
        ("description LIKE 'fraud%'", set()),
        ("description ILIKE 'fraud%'", {"alpha"}),
        ("description LIKE 'churn 10%'", {"beta", "Gamma"}),
        ("description LIKE '%0\\%'", {"beta"}),  # backslash escapes a literal %
        ("description ILIKE '%0\\%'", {"beta"}),
        # The prefix holds '_' (escaped as '\_'), upper-cased for ILIKE.
        (f"name ILIKE '{like_prefix(p + '-ALPHA').upper()}'", {"alpha"}),
        (f"creation_timestamp = {created}", when("creation_timestamp", lambda t: t == created)),
        (f"creation_timestamp != {created}", when("creation_timestamp", lambda t: t != created)),
        (f"creation_timestamp < {created}", when("creation_timestamp", lambda t: t < created)),
        (f"creation_timestamp <= {created}", when("creation_timestamp", lambda t: t <= created)),
        (f"creation_timestamp > {created}", when("creation_timestamp", lambda t: t > created)),
        (f"creation_timestamp >= {created}", when("creation_timestamp", lambda t: t >= created)),
        (
            f"last_updated_timestamp > {updated}",
            when("last_updated_timestamp", lambda t: t > updated),
        ),
        (
            f"last_updated_timestamp <= {updated}",
            when("last_updated_timestamp", lambda t: t <= updated),
        ),
    ]
    assert when("creation_timestamp", lambda t: t < created) == {"alpha"}
    for condition, expected in cases:
        found = model_names(client, f"name LIKE '{like_prefix(p)}' AND ({condition})")
        # Compared as sets: how 'Gamma' sorts against 'alpha' depends on the
        # database collation (orderings are tested with collation-proof names).
        assert len(found) == len(set(found))
        assert set(found) == {f"{p}-{k}" for k in expected}, condition


def test_and_or_precedence_and_parentheses(
    client: RegistryClient, model_name: str, three_models: dict[str, RegisteredModel]
) -> None:
    a, b, g = (f"{model_name}-{k}" for k in ("alpha", "beta", "Gamma"))
    cases = [
        (f"name = '{a}' OR name = '{b}' AND tags.team = 'risk'", [a]),
        (f"name = '{a}' OR name = '{b}' AND tags.team = 'growth'", [a, b]),
        (f"(name = '{a}' OR name = '{b}') AND tags.team = 'growth'", [b]),
        (f"name = '{g}' OR (name = '{a}' AND (alias = 'nope' OR tags.team = 'risk'))", [a, g]),
        (f"((name = '{g}')) or name = '{b}' and description ilike 'CHURN%'", [b, g]),
    ]
    for condition, expected in cases:
        assert set(model_names(client, condition)) == set(expected), condition
    bad = f"name IN ('{a}') AND (name = '{b}' OR NOT_A_FIELD = 'x')"
    position = bad.index("NOT_A_FIELD") + 1
    with pytest.raises(
        InvalidArgument, match=f"unknown field 'NOT_A_FIELD' at position {position} "
    ):
        model_names(client, bad)


# ------------------------------------------------------------- version fields


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


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("search", "filter_string", "message"),
    [
        (
            "models",
            "name = 'abc' AN name = 'x'",
            "filter: unexpected 'AN' at position 14, expected AND, OR or end of filter",
        ),
        ("models", "name = 'x' AND (", "filter: unexpected end of filter at position 17"),
        ("models", "name LIKE 'x", "filter: unterminated string starting at position 11"),
        ("models", "run_id = 'x'", "filter: unknown field 'run_id' at position 1"),
        ("models", "name = 3", "filter: name compares with quoted strings"),
        ("models", "name > 'a'", "filter: operator > at position 6 is not supported for name"),
        ("versions", "version_number = '3'", "filter: version_number compares with integers"),
        ("versions", "version_number = 3.0", "filter: version_number compares with integers"),
        ("versions", "run_id = 7", "filter: run_id compares with quoted strings"),
        ("versions", "current_stage = 'Prod'", "filter: current_stage at position 17"),
        ("versions", "status = 'OK'", "filter: status at position 10: 'OK' is not one of"),
        ("versions", "tags.x = 'a' OR", "filter: unexpected end of filter at position 16"),
        ("versions", "name LIKE 'a\\'", "ends with the escape character"),
        ("versions", "name = 'a' " + "x" * 4096, "filter: longer than 4096 characters"),
        ("versions", " OR ".join(["version = 1"] * 51), "filter: more than 50 comparisons"),
        (
            "versions",
            "version IN (" + ",".join(["1"] * 1001) + ")",
            "filter: the list at position 12 has more than 1000 values",
        ),
    ],
)
def test_bad_filters_are_invalid_argument(
    client: RegistryClient, search: str, filter_string: str, message: str
) -> None:
    call = client.search_registered_models if search == "models" else client.search_model_versions
    with pytest.raises(InvalidArgument) as info:
        call(filter_string)
    assert info.value.message.startswith("filter: ")
    assert message in info.value.message


@pytest.mark.parametrize(
    ("search", "order_by", "message"),
    [
        ("models", ["version_number"], "order_by[0]: unknown key 'version_number'"),
        ("models", ["name sideways"], "order_by[0]: unknown direction"),
        ("versions", ["name", "name"], "order_by[1]: 'name' is given twice"),
        (
            "versions",
            ["name", "version_number", "creation_timestamp", "last_updated_timestamp"],
            "at most 3",
        ),
    ],
)
def test_bad_order_by_is_invalid_argument(
    client: RegistryClient, search: str, order_by: list[str], message: str
) -> None:
    call = client.search_registered_models if search == "models" else client.search_model_versions
    with pytest.raises(InvalidArgument, match=r"^INVALID_ARGUMENT: order_by") as info:
        call("", order_by=order_by)
    assert message in info.value.message


INJECTIONS: list[tuple[str, bool]] = [
    # (filter, rejected?) -- the others must parse as literal values and match nothing.
    ("name = 'x'' OR ''1''=''1'", False),
    ('name = "x"" OR ""1""=""1"', False),
    ("name = 'x''; DROP TABLE registered_models; --'", False),
    ("name LIKE '%'' OR 1=1 --'", False),
    ("tags.`team'; DROP TABLE registered_model_tags; --` = 'x'", False),
    ("tags.team = 'x'') OR (''1''=''1'", False),
    ("tags.team = 'x') OR (1=1'", True),
    ("alias IN ('a''); DELETE FROM model_versions; --')", False),
    ("name = 'x'; DROP TABLE registered_models; --", True),
    ("name = 'x' OR 1=1", True),
    ("name = 'x' OR '1'='1'", True),
    ("name = 'x\\' OR 1=1 --'", True),
    ("name LIKE '%' UNION SELECT * FROM registered_models --", True),
    ("name = 'x' /* comment */", True),
    ("name = 'x' -- comment", True),
    ("name = $$x$$", True),
    ("name = x", True),
    ("name IN (SELECT name FROM registered_models)", True),
    ("1=1", True),
    ("tags.team = 'x' OR tags.`x` = (SELECT 1)", True),
]


def test_injection_strings_are_literals_or_rejected(
    client: RegistryClient, model_name: str, registry: RunningServer
) -> None:
    odd = f"{model_name} o'brien\"; DROP TABLE registered_models; --"
    client.create_registered_model(odd, tags={"team": "risk"})
    client.create_model_version(odd, source="s3://x")
    engine = registry.database.engine
    with engine.connect() as conn:
        before = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in metadata.sorted_tables
        }

    # Scoped to this test's names: other tests' models (the hypothesis tests make names full
    # of quotes and SQL) could match an injection read as a literal.
    mine = f"name LIKE '{like_prefix(model_name)}'"
    for injection, rejected in INJECTIONS:
        filter_string = f"{mine} AND ({injection})"
        for call in (client.search_registered_models, client.search_model_versions):
            if rejected:
                with pytest.raises(InvalidArgument, match=r"^INVALID_ARGUMENT: filter: "):
                    call(filter_string)
            else:
                assert list(call(filter_string)) == [], filter_string

    # A name full of SQL is found by exactly that name, as a literal.
    quoted = odd.replace("'", "''")
    assert model_names(client, f"name = '{quoted}'") == [odd]
    assert [v.name for v in client.search_model_versions(f"name = '{quoted}'")] == [odd]

    assert set(inspect(engine).get_table_names()) >= set(metadata.tables)
    with engine.connect() as conn:
        after = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in metadata.sorted_tables
        }
    assert after == before  # searching changed nothing, anywhere
    assert client.get_registered_model(odd).tags == {"team": "risk"}


# ---------------------------------------------------------------- ordering


def test_model_orderings(client: RegistryClient, model_name: str) -> None:
    p = model_name
    for short in ("c", "a", "d", "b"):  # creation order
        client.create_registered_model(f"{p}-{short}")
        tick()
    for short in ("b", "d", "a", "c"):  # update order
        client.update_registered_model(f"{p}-{short}", description="touched")
        tick()
    f = f"name LIKE '{like_prefix(p)}'"
    cases: list[tuple[list[str] | None, str]] = [
        (None, "abcd"),
        ([], "abcd"),
        (["name"], "abcd"),
        (["name ASC"], "abcd"),
        (["name DESC"], "dcba"),
        (["creation_timestamp"], "cadb"),
        (["creation_timestamp DESC"], "bdac"),
        (["last_updated_timestamp ASC"], "bdac"),
        (["last_updated_timestamp desc"], "cadb"),
        (["creation_timestamp DESC", "name"], "bdac"),
        (["last_updated_timestamp", "creation_timestamp DESC", "name DESC"], "bdac"),
    ]
    for order_by, expected in cases:
        want = [f"{p}-{s}" for s in expected]
        assert model_names(client, f, order_by) == want, order_by
        # The same order one row per page: every keyset step is exercised.
        one_by_one = model_names(client, f, order_by, page_size=1)
        assert one_by_one == want, order_by


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


# -------------------------------------------------------------- pagination


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


# ------------------------------------------------- models: aliases, latest


def test_model_results_carry_tags_aliases_and_latest_versions(
    client: RegistryClient, model_name: str
) -> None:
    p = model_name
    m1, m2, m3 = f"{p}-1", f"{p}-2", f"{p}-3"
    client.create_registered_model(m1, tags={"team": "risk"})
    for _ in range(5):
        client.create_model_version(m1, source="s3://x")
    for version, stage in ((1, "Archived"), (2, "Production"), (3, "Staging"), (5, "Staging")):
        client.transition_model_version_stage(m1, version, stage)
    client.set_registered_model_alias(m1, "champion", 2)
    client.set_registered_model_alias(m1, "challenger", 5)
    client.create_registered_model(m2, tags={"a": "1", "b": "2"})
    client.create_model_version(m2, source="s3://y")
    client.transition_model_version_stage(m2, 1, "Production")
    client.set_registered_model_alias(m2, "prod", 1)
    client.create_registered_model(m3)

    found = all_models(client, f"name LIKE '{like_prefix(p)}'", page_size=2)
    assert [m.name for m in found] == [m1, m2, m3]
    first = found[0]
    assert dict(first.aliases) == {"challenger": 5, "champion": 2}
    assert dict(first.tags) == {"team": "risk"}
    assert [(v.version, v.current_stage) for v in first.latest_versions] == [
        (4, "None"),
        (5, "Staging"),
        (2, "Production"),
        (1, "Archived"),
    ]
    assert first.latest_versions[2].aliases == ("champion",)
    assert found[2].latest_versions == () and dict(found[2].aliases) == {}
    # Exactly what GetRegisteredModel says about each of them.
    for model in found:
        assert model == client.get_registered_model(model.name)


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
