"""The registry's rows, grown a step at a time by set-based SQL.

Each step adds models, versions, their tags, data sets and aliases, and the history the
domain would have recorded for them, in one transaction (see the package docstring for what
the rows hold and why).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from search import FRAMEWORKS, KINDS, TIERS
from search import TEAMS as ALL_TEAMS

#: Versions of model 1, the model whose versions are searched (at most; fewer at tiny sizes).
PROBE_VERSIONS = 1_000
DAY_MS = 86_400_000
#: Eight teams (of bench/search.py's twenty): a team is an eighth of the models, so the
#: searches by name prefix and by team tag fill a page of 100 from 1,000 models on, and each
#: step compares full pages.
TEAMS = ALL_TEAMS[:8]


def _sql_array(values: Sequence[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


# Column values as SQL expressions of the model id `i` or the version row id `id`, written
# once so that rows, tags and the events that record them agree.
_NAME = (
    f"({_sql_array(TEAMS)})[1 + i % {len(TEAMS)}] || '-' || "
    f"({_sql_array(KINDS)})[1 + (i / {len(TEAMS)}) % {len(KINDS)}] || '-' || lpad(i::text, 6, '0')"
)
_TEAM = f"({_sql_array(TEAMS)})[1 + m.id % {len(TEAMS)}]"
_TIER = f"({_sql_array(TIERS)})[1 + (m.id / 7) % {len(TIERS)}]"
_FRAMEWORK = f"({_sql_array(FRAMEWORKS)})[1 + v.id % {len(FRAMEWORKS)}]"
_VALIDATED = "CASE WHEN v.id % 10 < 7 THEN 'true' ELSE 'false' END"


@dataclass(frozen=True)
class Step:
    """One growth step: models (lo, hi] with `versions` versions in all."""

    lo: int
    hi: int
    versions: int
    start_ms: int


def step_sql(step: Step, probe: int) -> list[str]:
    """The statements that add one step's models, versions, tags, aliases and history.

    Times: model j of the step is created at start + j s; version v of it at
    `vstart + ((v - 1) * models + j)` s (versions arrive round-robin, so one model's rows
    are spread over the table as in a registry that grew over time); its stage moves and
    alias moves follow at `tail + 4j .. 4j + 3` s. Event ids follow those times.
    """
    models = step.hi - step.lo
    regular = models - (1 if step.lo == 0 else 0)
    spread = step.versions - (probe if step.lo == 0 else 0)
    base, extra = divmod(spread, regular)
    if base < 2:
        raise SystemExit(f"step to {step.hi} models needs at least two versions a model")
    most = max(base + (1 if extra else 0), probe if step.lo == 0 else 0)
    vstart = step.start_ms + models * 1000
    tail = vstart + most * models * 1000
    count = (
        f"CASE WHEN i = 1 THEN {probe} ELSE {base} + "
        f"CASE WHEN i - {step.lo + (2 if step.lo == 0 else 1)} < {extra} THEN 1 ELSE 0 END END"
    )
    return [
        "DROP TABLE IF EXISTS step_models",
        f"""CREATE TEMP TABLE step_models AS
            SELECT i AS id, {_NAME} AS name, {count} AS n,
                   {step.start_ms}::bigint + (i - {step.lo + 1}) * 1000 AS created,
                   {tail}::bigint + (i - {step.lo + 1}) * 4000 AS tail
            FROM generate_series({step.lo + 1}, {step.hi}) AS i""",
        "ALTER TABLE step_models ADD PRIMARY KEY (id)",
        # The model's last change is its last alias move (tail + 2 s, or + 3 s with @challenger).
        """INSERT INTO registered_models
               (id, name, description, creation_time, last_updated_time, last_version, created_by)
           SELECT id, name, name || ' model', created,
                  tail + CASE WHEN id % 5 = 0 THEN 3000 ELSE 2000 END, n, 'bench'
           FROM step_models ORDER BY id""",
        "SELECT setval(pg_get_serial_sequence('registered_models', 'id'),"
        " (SELECT max(id) FROM registered_models))",
        f"""INSERT INTO registered_model_tags (model_id, key, value)
            SELECT m.id, t.key, t.value FROM step_models m,
                LATERAL (VALUES ('team', {_TEAM}), ('tier', {_TIER})) AS t (key, value)""",
        f"""INSERT INTO model_versions
               (model_id, version, creation_time, last_updated_time, source, stage, status,
                created_by, run_id, experiment_id)
            SELECT m.id, v, t, CASE WHEN v = m.n THEN m.tail + 1000
                                    WHEN v = m.n - 1 THEN m.tail ELSE t END,
                   's3://models/' || m.id || '/' || v,
                   CASE WHEN v = m.n THEN 'Production' WHEN v = m.n - 1 THEN 'Staging'
                        ELSE 'None' END,
                   'READY', 'bench', 'run-' || left(md5((m.id::bigint * 100000 + v)::text), 16),
                   (m.id % 100)::text
            FROM step_models m, generate_series(1, m.n) AS v,
                LATERAL (SELECT {vstart}::bigint
                         + ((v - 1)::bigint * {models} + m.id - {step.lo + 1}) * 1000 AS t) AS c
            ORDER BY v, m.id""",
        f"""INSERT INTO model_version_tags (version_id, key, value)
            SELECT v.id, t.key, t.value
            FROM model_versions v JOIN step_models m ON m.id = v.model_id,
                LATERAL (VALUES ('framework', {_FRAMEWORK}), ('validated', {_VALIDATED}))
                    AS t (key, value)""",
        """INSERT INTO model_version_datasets (version_id, position, name, digest, source_uri)
           SELECT v.id, 0, 'transactions', 'sha256:' || lpad(to_hex(v.id % 50000), 8, '0'),
                  's3://data/tx/'
           FROM model_versions v JOIN step_models m ON m.id = v.model_id""",
        """INSERT INTO registered_model_aliases (model_id, alias, version_id)
           SELECT v.model_id, a.alias, v.id
           FROM model_versions v JOIN step_models m ON m.id = v.model_id,
               LATERAL (VALUES ('champion', m.n), ('challenger', m.n - 1)) AS a (alias, version)
           WHERE v.version = a.version AND (a.alias = 'champion' OR m.id % 5 = 0)""",
        # The history, in time order so that ids follow it (migration 0008 draws them).
        f"""INSERT INTO model_events
               (model_id, model_name, version, kind, actor, event_time, before, after, alias)
            SELECT model_id, model_name, version, kind, 'bench', t, before, after, alias
            FROM (
                SELECT m.id AS model_id, m.name AS model_name, NULL::integer AS version,
                       'model_created' AS kind, m.created AS t, '{{}}'::json AS before,
                       json_build_object('name', m.name, 'description', m.name || ' model',
                           'tags', json_build_object('team', {_TEAM}, 'tier', {_TIER}))
                           AS after,
                       NULL::varchar AS alias
                FROM step_models m
                UNION ALL
                SELECT m.id, m.name, v.version, 'version_created', v.creation_time, '{{}}',
                       json_build_object('version', v.version, 'source', v.source,
                           'run_id', v.run_id, 'status', 'READY',
                           'tags', json_build_object('framework', {_FRAMEWORK},
                                                     'validated', {_VALIDATED}),
                           'parent_model_uri', ''),
                       NULL
                FROM model_versions v JOIN step_models m ON m.id = v.model_id
                UNION ALL
                SELECT m.id, m.name, s.version, 'version_stage_changed', m.tail + s.offset_ms,
                       json_build_object('stage', 'None'), json_build_object('stage', s.stage),
                       NULL
                FROM step_models m,
                    LATERAL (VALUES (m.n - 1, 'Staging', 0), (m.n, 'Production', 1000))
                        AS s (version, stage, offset_ms)
                UNION ALL
                SELECT m.id, m.name, a.version, 'alias_set', m.tail + a.offset_ms, '{{}}',
                       json_build_object('alias', a.alias, 'version', a.version), a.alias
                FROM step_models m,
                    LATERAL (VALUES ('champion', m.n, 2000), ('challenger', m.n - 1, 3000))
                        AS a (alias, version, offset_ms)
                WHERE a.alias = 'champion' OR m.id % 5 = 0
            ) AS e
            ORDER BY t""",
        "DROP TABLE step_models",
    ]


def step_end(step: Step, probe: int) -> int:
    """When the step's last event happened (the next step starts after it)."""
    models = step.hi - step.lo
    regular = models - (1 if step.lo == 0 else 0)
    spread = step.versions - (probe if step.lo == 0 else 0)
    base, extra = divmod(spread, regular)
    most = max(base + (1 if extra else 0), probe if step.lo == 0 else 0)
    return step.start_ms + models * 1000 + most * models * 1000 + models * 4000 + 1000


def grow(url: str, step: Step, probe: int) -> float:
    """Add one step's rows in one transaction; seconds taken."""
    started = time.monotonic()
    engine = sa.create_engine(url)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        # A bench database: losing the last commit to a crash costs nothing. The statements
        # go to psycopg2 without parameters, so their % signs stay as they are.
        cursor.execute("SET synchronous_commit = off")
        for statement in step_sql(step, probe):
            cursor.execute(statement)
        cursor.close()
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return time.monotonic() - started
