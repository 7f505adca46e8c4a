"""After a load run: is every acknowledged write there exactly once, and does the history add up?

``verify()`` reads the registry back through the public client and returns a list of problems
(empty when all is well), so a test can assert on it and ``bench/load.py`` can print it.

``complete=True`` is for runs where every write call answered (OK or an expected refusal): then
nothing may exist beyond what was acknowledged. After an outage a write may have committed
while its answer was lost, so ``complete=False`` only checks that nothing acknowledged is
missing and that the registry is consistent with itself.
"""

from __future__ import annotations

from collections import Counter

from registry_client import ModelEvent, ModelVersion, RegistryClient

from .load import Ledger

_STAGES_WITH_ONE_HOLDER = ("Production", "Staging")


def verify(client: RegistryClient, ledger: Ledger, *, complete: bool) -> list[str]:
    problems = [f"one number acknowledged twice: {d}" for d in ledger.double_acks]
    for model in ledger.models:
        problems.extend(f"{model}: {p}" for p in _verify_model(client, ledger, model, complete))
    return problems


def _verify_model(client: RegistryClient, ledger: Ledger, model: str, complete: bool) -> list[str]:
    problems: list[str] = []
    registered = client.get_registered_model(model)
    stored = {v.version: v for v in client.iter_model_versions(f"name = '{model}'", page_size=1000)}
    events = list(client.iter_model_events(model, page_size=1000))

    # Versions: numbered 1..last_version without gaps, every acknowledged create present once.
    numbers = sorted(stored)
    expected = list(range(1, registered.last_version + 1))
    if numbers != expected:
        missing = sorted(set(expected) - set(numbers))[:10]
        extra = sorted(set(numbers) - set(expected))[:10]
        problems.append(
            f"versions not 1..{registered.last_version}: missing {missing}, extra {extra}"
        )
    acked = ledger.versions[model]
    for number, source in sorted(acked.items()):
        if number not in stored:
            problems.append(f"acknowledged v{number} ({source}) is missing")
        elif stored[number].source != source:
            problems.append(f"v{number} has source {stored[number].source!r}, acked {source!r}")
    if complete and len(stored) != len(acked):
        problems.append(f"{len(stored)} versions exist but {len(acked)} creates were acknowledged")
    created = Counter(e.version for e in events if e.kind == "version_created")
    if sorted(created.elements()) != numbers:
        problems.append("version_created events do not match the versions one to one")

    problems.extend(_verify_stages(ledger, model, stored, events))
    problems.extend(_verify_aliases(ledger, model, dict(registered.aliases), events, complete))
    return problems


def _verify_stages(
    ledger: Ledger, model: str, stored: dict[int, ModelVersion], events: list[ModelEvent]
) -> list[str]:
    problems = []
    replayed = {number: "None" for number in stored}
    entered: set[tuple[int, str]] = set()
    for event in events:
        if event.kind == "version_stage_changed" and event.version is not None:
            replayed[event.version] = str(event.after["stage"])
            entered.add((event.version, str(event.after["stage"])))
    actual = {number: v.current_stage for number, v in stored.items()}
    if replayed != actual:
        wrong = {
            n: (replayed.get(n), actual.get(n)) for n in actual if replayed.get(n) != actual[n]
        }
        problems.append(f"stage history replays to a different state (replayed, actual): {wrong}")
    for stage in _STAGES_WITH_ONE_HOLDER:
        holders = sorted(n for n, s in actual.items() if s == stage)
        # Transitions always archive the other holders and the seed put one version in each.
        if len(holders) != 1:
            problems.append(f"{stage} is held by {holders}, expected exactly one version")
    for number, stage in ledger.transitions[model]:
        if (number, stage) not in entered:
            problems.append(f"acknowledged move of v{number} to {stage} is not in the history")
    return problems


def _verify_aliases(
    ledger: Ledger,
    model: str,
    final: dict[str, int],
    events: list[ModelEvent],
    complete: bool,
) -> list[str]:
    problems = []
    replayed: dict[str, int] = {}
    recorded_moves: Counter[tuple[str, int, int]] = Counter()
    recorded_deletes: Counter[str] = Counter()
    for event in events:
        if event.kind == "alias_set":
            alias, version = str(event.after["alias"]), int(event.after["version"])
            previous = int(event.before.get("version", 0))
            if replayed.get(alias, 0) != previous:
                problems.append(
                    f"event {event.event_id} moves @{alias} from v{previous}, "
                    f"but the history before it has v{replayed.get(alias, 0)}"
                )
            replayed[alias] = version
            recorded_moves[(alias, previous, version)] += 1
        elif event.kind == "alias_deleted":
            alias = str(event.before["alias"])
            if alias not in replayed:
                problems.append(f"event {event.event_id} deletes @{alias}, which was not set")
            replayed.pop(alias, None)
            recorded_deletes[alias] += 1
    if replayed != final:
        problems.append(f"alias history replays to {replayed}, the model has {final}")
    acked_moves = Counter(
        (m.alias, m.previous, m.version)
        for m in ledger.alias_moves[model]
        if m.previous != m.version
    )
    if missing := acked_moves - recorded_moves:
        problems.append(f"acknowledged alias moves missing from the history: {dict(missing)}")
    if missing_deletes := ledger.alias_deletes[model] - recorded_deletes:
        problems.append(f"acknowledged alias deletes missing: {dict(missing_deletes)}")
    if complete:
        if extra := recorded_moves - acked_moves:
            problems.append(f"alias moves nobody was told about: {dict(extra)}")
        if extra_deletes := recorded_deletes - ledger.alias_deletes[model]:
            problems.append(f"alias deletes nobody was told about: {dict(extra_deletes)}")
    return problems
