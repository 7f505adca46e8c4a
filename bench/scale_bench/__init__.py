"""The hot reads as the registry grows: 100,000 models and 1,000,000 versions on PostgreSQL.

Grows one throwaway database in steps (10,000 versions, then 100,000, then 1,000,000, ten
versions a model on average) with set-based SQL (INSERT ... SELECT over generate_series, a few
seconds per 100,000 versions; going through the API would take hours), after the server's
own migrations, so the schema is the real one. What it writes is what the server would
have written for the same history: each model has two tags, each version two tags and a
data set; the latest version is in Production with `@champion`, the one before in Staging
(a fifth of the models also have `@challenger` on it); `last_version` counts the versions;
and model_events holds the history in commit order (model_created, version_created,
version_stage_changed, alias_set, with the payloads the domain records), its ids drawn by
the column's default (migration 0008's `registry_next_event_id()`), so its triggers run
as for any other writer. Model 1 has up to 1,000 versions: the "one model" whose versions
are searched.

After each step it VACUUM ANALYZEs, starts `registry-server serve` on the database in its
own process and times, through the public client, at concurrency 1 and 16 (a client and a
channel per thread): get by alias, resolve `models:/<name>@champion`, get version, search
the versions of one model, search models by name prefix and by tag, one model's history
(ListModelEvents) and reading a backlog of events through WatchModelEvents from a cursor.
Each figure is printed against the first step's, with the database's size per version and
per event.

It also checks the plans (bench/sql_plans.py): at the first step a second server, with
prepared statements off and a hook that writes down every SQL statement it sends, runs each
operation three times; each read it sent on the registry's tables is run again at every
step under EXPLAIN (ANALYZE, BUFFERS). The bench fails (exit 1) when one scans
model_versions, registered_models or model_events sequentially once the table holds 50,000
rows, or a call failed; a read whose buffers grow more than 2x is marked GROWS. Timings
are printed against the targets, never judged.

    .venv/bin/python bench/scale.py                                   # about 15 minutes
    .venv/bin/python bench/scale.py --models 100 --versions 500,1000 --seconds 1   # seconds

`REGISTRY_BENCH_DATABASE_URL` names an administrative database on the server to use (a new
database is created beside it and dropped afterwards); the default is postgres on
127.0.0.1:5432.
"""
