"""Searches that are refused, on SQLite and PostgreSQL: bad filters and orderings are
INVALID_ARGUMENT naming the problem, and SQL injected into a filter is either read
as a literal or rejected, changing nothing.

Tests share one database per backend, so every filter is restricted to the
test's own names (``name LIKE '<prefix>%'``, with LIKE's wildcards in the
prefix escaped).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, inspect, select
from support.search import like_prefix, model_names

from registry_client import InvalidArgument, RegistryClient
from registry_server.server import RunningServer
from registry_server.store.schema import metadata


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
