"""Stage transitions, archiving, and their concurrency guarantee."""

from __future__ import annotations

import threading

import pytest

from registry_client import InvalidArgument, NotFound, RegistryClient


def _stages(client: RegistryClient, name: str, count: int) -> dict[int, str]:
    return {v: client.get_model_version(name, v).current_stage for v in range(1, count + 1)}


def test_stage_is_case_insensitive_and_canonical(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    client.create_model_version(model_name, source="s3://a")
    for given, canonical in [
        ("staging", "Staging"),
        ("PRODUCTION", "Production"),
        ("aRcHiVeD", "Archived"),
        ("none", "None"),
    ]:
        moved = client.transition_model_version_stage(model_name, 1, given)
        assert moved.current_stage == canonical
        assert client.get_model_version(model_name, 1).current_stage == canonical


def test_archive_existing_versions(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    for _ in range(4):
        client.create_model_version(model_name, source="s3://a")
    client.transition_model_version_stage(model_name, 1, "Production")
    client.transition_model_version_stage(model_name, 2, "Production")
    client.transition_model_version_stage(model_name, 3, "Staging")
    client.transition_model_version_stage(
        model_name, 4, "Production", archive_existing_versions=True
    )
    assert _stages(client, model_name, 4) == {
        1: "Archived",
        2: "Archived",
        3: "Staging",
        4: "Production",
    }
    archived = [
        e
        for e in client.iter_model_events(model_name)
        if e.kind == "version_stage_changed" and e.after.get("stage") == "Archived"
    ]
    assert sorted(e.version for e in archived) == [1, 2]


def test_without_archiving_several_versions_share_a_stage(
    client: RegistryClient, model_name: str
) -> None:
    client.create_registered_model(model_name)
    for _ in range(2):
        client.create_model_version(model_name, source="s3://a")
    client.transition_model_version_stage(model_name, 1, "Staging")
    client.transition_model_version_stage(model_name, 2, "Staging")
    assert _stages(client, model_name, 2) == {1: "Staging", 2: "Staging"}


def test_transition_errors_change_nothing(client: RegistryClient, model_name: str) -> None:
    client.create_registered_model(model_name)
    client.create_model_version(model_name, source="s3://a")
    client.create_model_version(model_name, source="s3://a")
    client.transition_model_version_stage(model_name, 1, "Production")
    with pytest.raises(InvalidArgument, match="stage 'Prod' is not one of"):
        client.transition_model_version_stage(model_name, 2, "Prod")
    with pytest.raises(InvalidArgument, match="archive_existing_versions"):
        client.transition_model_version_stage(
            model_name, 2, "Archived", archive_existing_versions=True
        )
    with pytest.raises(InvalidArgument, match="archive_existing_versions"):
        client.transition_model_version_stage(model_name, 2, "None", archive_existing_versions=True)
    with pytest.raises(NotFound):
        client.transition_model_version_stage(model_name, 3, "Staging")
    with pytest.raises(NotFound):
        client.transition_model_version_stage(model_name + "-missing", 1, "Staging")
    assert _stages(client, model_name, 2) == {1: "Production", 2: "None"}


def test_concurrent_promotions_leave_exactly_one_in_production(
    client: RegistryClient, model_name: str
) -> None:
    """Many versions promoted at once with archiving: one winner, the rest archived
    (on PostgreSQL this exercises the model row lock under READ COMMITTED)."""
    client.create_registered_model(model_name)
    count = 8
    for _ in range(count):
        client.create_model_version(model_name, source="s3://a")
    for _round in range(3):
        barrier = threading.Barrier(count)
        errors: list[BaseException] = []

        def promote(
            version: int, barrier: threading.Barrier = barrier, errors: list = errors
        ) -> None:
            barrier.wait()
            try:
                client.transition_model_version_stage(
                    model_name, version, "Production", archive_existing_versions=True
                )
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=promote, args=(v,)) for v in range(1, count + 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        stages = _stages(client, model_name, count)
        in_production = [v for v, s in stages.items() if s == "Production"]
        assert len(in_production) == 1, stages
        assert all(s in ("Production", "Archived") for s in stages.values())
        latest = client.get_latest_versions(model_name, ["Production"])
        assert [v.version for v in latest] == in_production
