"""SearchRegisteredModels through the real server and the public client, on SQLite
and PostgreSQL: every field and operator, AND/OR precedence, orderings, and what each
result carries (tags, aliases, latest versions).

Tests share one database per backend, so every filter is restricted to the
test's own names (``name LIKE '<prefix>%'``, with LIKE's wildcards in the
prefix escaped).
"""

from __future__ import annotations

import pytest
from support.search import all_models, like_prefix, model_names, tick

from registry_client import InvalidArgument, RegisteredModel, RegistryClient


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
