"""Aliases: set, move, compare-and-swap, delete, reserved names."""

from __future__ import annotations

import threading

import pytest

from registry_client import (
    ALIAS_MUST_NOT_EXIST,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    RegistryClient,
)


@pytest.fixture
def three_versions(client: RegistryClient, model_name: str) -> str:
    client.create_registered_model(model_name)
    for i in range(3):
        client.create_model_version(model_name, source=f"s3://m/{i + 1}")
    return model_name


def test_set_get_and_move(client: RegistryClient, three_versions: str) -> None:
    name = three_versions
    v = client.set_registered_model_alias(name, "champion", 1)
    assert v.version == 1 and v.aliases == ("champion",)
    assert client.get_model_version_by_alias(name, "champion").version == 1
    client.set_registered_model_alias(name, "champion", 2)
    assert client.get_model_version_by_alias(name, "champion").version == 2
    assert client.get_model_version(name, 1).aliases == ()
    assert client.get_model_version(name, 2).aliases == ("champion",)
    client.set_registered_model_alias(name, "stable", 2)
    assert client.get_model_version(name, 2).aliases == ("champion", "stable")
    assert client.get_registered_model(name).aliases == {"champion": 2, "stable": 2}
    moves = [
        (e.before.get("version"), e.after["version"])
        for e in client.iter_model_events(name)
        if e.kind == "alias_set" and e.after["alias"] == "champion"
    ]
    assert moves == [(None, 1), (1, 2)]


def test_compare_and_swap(client: RegistryClient, three_versions: str) -> None:
    name = three_versions
    client.set_registered_model_alias(name, "champion", 1, expected_version=ALIAS_MUST_NOT_EXIST)
    with pytest.raises(FailedPrecondition, match="points at version 1, expected it not to exist"):
        client.set_registered_model_alias(
            name, "champion", 2, expected_version=ALIAS_MUST_NOT_EXIST
        )
    with pytest.raises(FailedPrecondition, match="expected it to point at version 3"):
        client.set_registered_model_alias(name, "champion", 2, expected_version=3)
    assert client.get_model_version_by_alias(name, "champion").version == 1
    client.set_registered_model_alias(name, "champion", 2, expected_version=1)
    assert client.get_model_version_by_alias(name, "champion").version == 2
    with pytest.raises(FailedPrecondition, match="does not exist"):
        client.set_registered_model_alias(name, "other", 2, expected_version=1)
    with pytest.raises(InvalidArgument, match="expected_version"):
        client.set_registered_model_alias(name, "champion", 2, expected_version=-1)


def test_concurrent_compare_and_swap_has_one_winner(
    client: RegistryClient, three_versions: str
) -> None:
    name = three_versions
    client.set_registered_model_alias(name, "champion", 1)
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def move(version: int) -> None:
        barrier.wait()
        try:
            client.set_registered_model_alias(name, "champion", version, expected_version=1)
            outcomes.append(f"won:{version}")
        except FailedPrecondition:
            outcomes.append("lost")

    threads = [threading.Thread(target=move, args=(2 + i % 2,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1 and outcomes.count("lost") == 5
    assert client.get_model_version_by_alias(name, "champion").version == int(winners[0][4:])


@pytest.mark.parametrize(
    ("alias", "why"),
    [
        ("latest", "reserved"),
        ("LATEST", "reserved"),
        ("7", "reserved"),
        ("v7", "reserved"),
        ("V12", "reserved"),
        ("has space", "must match"),
        ("dot.ted", "must match"),
        ("x" * 256, "must match"),
        ("", "required"),
    ],
)
def test_bad_alias_names(client: RegistryClient, three_versions: str, alias: str, why: str) -> None:
    with pytest.raises(InvalidArgument, match="alias") as info:
        client.set_registered_model_alias(three_versions, alias, 1)
    assert why in info.value.message
    assert client.get_registered_model(three_versions).aliases == {}


def test_alias_edge_names_are_accepted(client: RegistryClient, three_versions: str) -> None:
    for alias in ["a", "v7a", "7x", "champion_2", "blue-green", "x" * 255, "latest2"]:
        client.set_registered_model_alias(three_versions, alias, 1)
        assert client.get_model_version_by_alias(three_versions, alias).version == 1


def test_alias_errors(client: RegistryClient, three_versions: str) -> None:
    name = three_versions
    with pytest.raises(NotFound, match="version 9"):
        client.set_registered_model_alias(name, "champion", 9)
    with pytest.raises(NotFound, match="not found"):
        client.set_registered_model_alias(name + "-missing", "champion", 1)
    with pytest.raises(NotFound, match="no alias 'nope'"):
        client.get_model_version_by_alias(name, "nope")
    with pytest.raises(NotFound, match="not found"):
        client.get_model_version_by_alias(name + "-missing", "nope")
    with pytest.raises(NotFound, match="no alias 'nope'"):
        client.delete_registered_model_alias(name, "nope")


def test_delete_alias(client: RegistryClient, three_versions: str) -> None:
    name = three_versions
    client.set_registered_model_alias(name, "champion", 3)
    client.delete_registered_model_alias(name, "champion")
    with pytest.raises(NotFound):
        client.get_model_version_by_alias(name, "champion")
    assert client.get_model_version(name, 3).aliases == ()
    last = list(client.iter_model_events(name))[-1]
    assert (last.kind, last.before, last.version) == (
        "alias_deleted",
        {"alias": "champion", "version": 3},
        3,
    )


def test_move_reports_the_previous_target(client: RegistryClient, three_versions: str) -> None:
    name = three_versions
    first = client.move_registered_model_alias(name, "champion", 1)
    assert first.previous_version is None and first.model_version.version == 1
    second = client.move_registered_model_alias(name, "champion", 3, expected_version=1)
    assert second.previous_version == 1
    assert second.model_version.version == 3 and second.model_version.aliases == ("champion",)
    # A no-op move still says where the alias was.
    assert client.move_registered_model_alias(name, "champion", 3).previous_version == 3
