"""The side port's ASGI application (Starlette).

`create_app` takes what the endpoints read (the process's ServingState, the
metrics exposition) and any further routes: the web console mounts here
later, on the same listener, without this module knowing about it.

Endpoints are plain functions: Starlette runs them in its thread pool, so a
health probe waiting on the database (at most its short timeout) or a scrape
reading the webhook backlog never blocks the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from registry_server.lifecycle import ServingState
from registry_server.metrics import Exposition


def create_app(
    serving: ServingState,
    exposition: Exposition | None = None,
    routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The application: /healthz, /metrics (when `exposition` is given),
    then `routes`."""

    def healthz(_request: Request) -> Response:
        """200 while serving with a database that answers; 503 while
        draining or when the database does not answer (load balancers and
        Kubernetes readiness probes read the status; people read the body)."""
        health = serving.health()
        return PlainTextResponse(
            health.reason + "\n",
            status_code=200 if health.ok else 503,
            headers={"Cache-Control": "no-store"},
        )

    own: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET", "HEAD"])]
    if exposition is not None:

        def metrics(_request: Request) -> Response:
            return Response(exposition.render(), media_type=exposition.content_type)

        own.append(Route("/metrics", metrics, methods=["GET"]))
    return Starlette(routes=[*own, *routes])
