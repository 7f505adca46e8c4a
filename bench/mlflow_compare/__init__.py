"""Our registry against MLflow's model registry, side by side, on the same PostgreSQL.

Each system gets its own throwaway database and runs as its own server process(es), as in
production: `registry-server serve` (gRPC), and `mlflow server` (REST over uvicorn) in two
setups, its default (4 uvicorn worker processes) and `--workers 1`. With several workers
uvicorn binds the listening socket itself, as `socket.socket(AF_INET)` whose protocol is 0,
and asyncio only sets TCP_NODELAY on accepted sockets whose protocol is IPPROTO_TCP; so
Nagle's algorithm stays on, which with the client's delayed ACKs adds about 40 ms to requests
on a kept-alive connection. That is what an MLflow user gets out of the box, so the default
setup is measured as it is and is the headline comparison, and `--workers 1` is shown beside
it.

The same operations run against each system, one (operation, concurrency) cell at a time,
the systems taking turns within a cell so that drift in the machine's load spreads over all
of them. Every cell runs `--warmup` seconds untimed, then `--seconds` timed; a call counts
when it completes inside the timed window. Load comes from `--client-processes` processes
(threads inside them), each worker with its own connection, opened before timing and kept
alive: one Python process driving 16 threads would measure its own GIL.

    create_model     create a registered model, unique name per call
    create_version   create a version of ONE model shared by all workers; afterwards the
                     version numbers must be exactly 1..N with N = acknowledged creates
    set_alias        move @champion over the versions of a 20-version model
    get_by_alias     read the version @champion points at
    resolve          resolve models:/name@champion to a location. Ours: one ResolveModelUri
                     call. MLflow has no server-side resolve; its client asks for the
                     version by alias, then for that version's download URI, so one MLflow
                     resolve is those 2 requests.
    get_version      read a version by name and number
    transition       move the next version to Production with archive_existing_versions,
                     every worker on one 20-version model; afterwards exactly one version
                     must be in Production
    search_versions  one page (100) of the versions of a model with 1,000 versions
    search_models    one page (100) of registered models matching name LIKE '<run>-like-01%'
                     among 1,000+ models

Fixtures are created through each system's own API before timing, then the database is
VACUUM ANALYZEd (fresh tables without planner statistics made MLflow's model search tens of
times slower, which no long-running deployment would see). What a cell creates stays: a faster
system creates more, and its later searches run over larger tables.

MLflow is driven over its REST API with `requests` and the JSON is decoded but not turned
into MLflow entities, so its client side costs less than MlflowClient's would. Ours is driven
the same way, as the issue asks: through the generated gRPC stub, the messages decoded but
not turned into RegistryClient's dataclasses (`--our-client client` measures RegistryClient
instead). The clients share the machine's two cores with the servers, so what a client
spends per call shows in both systems' throughput.

    .venv/bin/python bench/vs_mlflow.py                      # 10 s per cell, c1 and c16
    .venv/bin/python bench/vs_mlflow.py --seconds 2 --warmup 0.5 --json vs.json
    .venv/bin/python bench/vs_mlflow.py --ops resolve,transition --concurrency 16
    .venv/bin/python bench/vs_mlflow.py --no-mlflow          # ours only

After the servers stop, the same command moves a 256 MiB model through our server and
directly with the minio client (bench/artifact_transfer.py; `--artifacts-mib 0` skips it).

`REGISTRY_BENCH_DATABASE_URL` names an administrative database on the PostgreSQL server to
use (databases are created beside it and dropped afterwards); the default is postgres on
127.0.0.1:5432. With a local PostgreSQL the CPU the servers and their database backends used
is reported per call too: on a busy machine it is steadier than throughput.

The figures are printed, never judged. Exit status 1 means our server returned an error or
one of its correctness checks (gapless versions, one version in Production) failed.
"""
