"""Version numbers under concurrent creation, and idempotent retries."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from registry_client import RegistryClient
from registry_server.server import RunningServer


def _create_many(target: str, name: str, clients: int, per_client: int) -> list[int]:
    barrier = threading.Barrier(clients)

    def worker(index: int) -> list[int]:
        # One client (one channel, one connection) per worker, like 16 CI jobs.
        with RegistryClient(target, actor=f"ci-{index}") as own:
            barrier.wait()
            return [
                own.create_model_version(name, source=f"s3://m/{index}/{i}").version
                for i in range(per_client)
            ]

    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(worker, range(clients)))
    return [v for chunk in results for v in chunk]


@pytest.mark.slow
def test_sixteen_clients_creating_versions_on_postgres_are_gapless(
    pg_client: RegistryClient, pg_target: str, model_name: str
) -> None:
    pg_client.create_registered_model(model_name)
    numbers = _create_many(pg_target, model_name, clients=16, per_client=25)
    assert sorted(numbers) == list(range(1, 401))
    assert pg_client.get_registered_model(model_name).last_version == 400
    assert pg_client.resolve(f"models:/{model_name}/latest").model_version.version == 400
    created = [
        e
        for e in pg_client.iter_model_events(model_name, page_size=1000)
        if e.kind == "version_created"
    ]
    assert sorted(e.version for e in created) == list(range(1, 401))


def test_concurrent_creation_on_sqlite_is_gapless(
    sqlite_server: RunningServer, model_name: str
) -> None:
    target = f"127.0.0.1:{sqlite_server.port}"
    with RegistryClient(target) as client:
        client.create_registered_model(model_name)
    numbers = _create_many(target, model_name, clients=8, per_client=10)
    assert sorted(numbers) == list(range(1, 81))


def test_idempotency_key_returns_the_first_version(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    first = client.create_model_version(model_name, source="s3://a", idempotency_key="build-77")
    again = client.create_model_version(model_name, source="s3://a", idempotency_key="build-77")
    assert again.version == first.version == 1
    assert again.creation_timestamp == first.creation_timestamp
    other = client.create_model_version(model_name, source="s3://a", idempotency_key="build-78")
    assert other.version == 2
    # Keys are scoped per model.
    client.create_registered_model(model_name + "-b")
    assert (
        client.create_model_version(
            model_name + "-b", source="s3://a", idempotency_key="build-77"
        ).version
        == 1
    )
    created = [e for e in client.iter_model_events(model_name) if e.kind == "version_created"]
    assert len(created) == 2


def test_concurrent_retries_with_one_key_create_one_version(
    client: RegistryClient, target: str, model_name: str
) -> None:
    client.create_registered_model(model_name)
    barrier = threading.Barrier(8)

    def retry(_: int) -> int:
        with RegistryClient(target) as own:
            barrier.wait()
            return own.create_model_version(
                model_name, source="s3://a", idempotency_key="same-key"
            ).version

    with ThreadPoolExecutor(max_workers=8) as pool:
        versions = list(pool.map(retry, range(8)))
    assert versions == [1] * 8
    assert client.get_registered_model(model_name).last_version == 1


def test_client_fills_in_an_idempotency_key(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    a = client.create_model_version(model_name, source="s3://a")
    b = client.create_model_version(model_name, source="s3://a")
    assert (a.version, b.version) == (1, 2)


@pytest.mark.slow
def test_concurrent_transitions_keep_exactly_one_holder_per_stage(
    pg_client: RegistryClient, pg_target: str, model_name: str
) -> None:
    """16 clients promoting with archive_existing_versions on one model: odd versions to
    Staging, even ones to Production. Every answer shows the version in its new stage, and
    afterwards each stage has exactly one holder. (A version read in the statement that
    waited for the model lock used to be stale, so a promotion could archive the holder
    and skip the move.)"""
    pg_client.create_registered_model(model_name)
    for _ in range(4):
        pg_client.create_model_version(model_name, source="s3://m")
    pg_client.transition_model_version_stage(model_name, 1, "Staging")
    pg_client.transition_model_version_stage(model_name, 2, "Production")
    barrier = threading.Barrier(16)

    def worker(index: int) -> None:
        with RegistryClient(pg_target, actor=f"cd-{index}") as own:
            barrier.wait()
            for step in range(40):
                number = (index + step) % 4 + 1
                stage = "Staging" if number % 2 else "Production"
                moved = own.transition_model_version_stage(
                    model_name, number, stage, archive_existing_versions=True
                )
                assert moved.current_stage == stage, (number, stage, moved.current_stage)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(worker, range(16)))
    holders: dict[str, list[int]] = {}
    for version in pg_client.search_model_versions(f"name = '{model_name}'", max_results=100):
        holders.setdefault(version.current_stage, []).append(version.version)
    assert len(holders.get("Staging", [])) == 1, holders
    assert len(holders.get("Production", [])) == 1, holders
    assert holders["Staging"][0] % 2 == 1 and holders["Production"][0] % 2 == 0
