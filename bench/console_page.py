"""Server time of the web console's model page for a model with many versions.

Starts a server in this process (a throwaway SQLite file by default, or the
PostgreSQL database given with --database-url, which must be empty or at the
newest schema), creates one model with N versions (default 1,000) through the
client, then requests /models/<name> (the first page of 50 versions) and
/models/<name>/versions/<N> repeatedly and prints the server time of each
(the console's `Server-Timing` header: from the request's arrival to the
response's start) as p50/p99/max. Target: under 300 ms.

    .venv/bin/python bench/console_page.py [--versions 1000] [--requests 50]
        [--database-url postgresql+psycopg2://...]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import urllib.request
from pathlib import Path

from registry_client import RegistryClient
from registry_server.config import ServerConfig
from registry_server.server import start


def server_ms(url: str) -> float:
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        found = re.search(r"dur=([0-9.]+)", response.headers.get("Server-Timing", ""))
    assert found, "no Server-Timing header"
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'registry.db'}"
        running = start(
            ServerConfig(
                database_url=url,
                artifact_store=str(Path(folder) / "artifacts"),
                listen="127.0.0.1:0",
                http_listen="127.0.0.1:0",
            )
        )
        try:
            assert running.http is not None
            base = f"http://127.0.0.1:{running.http.port}"
            name = f"bench-console-{Path(folder).name}"
            with RegistryClient(f"127.0.0.1:{running.port}", actor="bench") as client:
                client.create_registered_model(name, description="# A model\n\nMany versions.")
                for number in range(1, args.versions + 1):
                    client.create_model_version(
                        name, source=f"s3://bench/{number}", run_id=f"run-{number}"
                    )
                client.set_registered_model_alias(name, "champion", args.versions // 2)
            print(f"database: {url.split(':')[0]}; {args.versions} versions")
            for label, path in (
                ("model page", f"/models/{name}"),
                ("version page", f"/models/{name}/versions/{args.versions}"),
                ("history page", f"/models/{name}/history"),
            ):
                server_ms(base + path)  # warm
                times = sorted(server_ms(base + path) for _ in range(args.requests))
                p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
                print(
                    f"{label:13s} p50 {statistics.median(times):6.1f} ms   "
                    f"p99 {p99:6.1f} ms   max {times[-1]:6.1f} ms"
                )
        finally:
            running.stop(grace=1)


if __name__ == "__main__":
    main()
