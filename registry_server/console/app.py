"""The console's ASGI application and the services it is given.

server.py builds the domain services once per process and hands them here;
registry_server/http/app.py mounts the result on the side port next to
/healthz and /metrics.
"""

from __future__ import annotations

import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry_server.console import actions, auth, live, pages
from registry_server.console.services import ConsoleServices
from registry_server.console.sessions import SessionService
from registry_server.console.web import HTTP_STATUS, SECURITY_HEADERS, ConsoleContext, render
from registry_server.domain.access import AccessDenied, HiddenModel
from registry_server.domain.errors import RegistryError

_STATIC = Path(__file__).parent / "static"


class SecurityHeaders:
    """CSP and friends on every console response (pages, assets, errors),
    and `Server-Timing: app;dur=<ms>`: the time until the response started,
    what bench/console_page.py reads."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                took = (time.perf_counter() - started) * 1000
                headers.append((b"server-timing", f"app;dur={took:.1f}".encode()))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _error_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RegistryError)
    console: ConsoleContext = request.app.state.console
    # Refusals are written to the history, as the gRPC interceptor does.
    if isinstance(exc, AccessDenied):
        console.access.record_denial(exc)
    elif isinstance(exc, HiddenModel):
        console.access.record_denial(exc.denial)
    status = HTTP_STATUS.get(exc.code, 500)
    return render(
        request,
        "error.html",
        {"title": "Not found" if status == 404 else "Refused", "message": exc.message},
        status,
    )


def _not_found(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", {"title": "Not found", "message": "No such page."}, 404)


def console_app(services: ConsoleServices) -> Starlette:
    ctx = ConsoleContext(
        authenticator=services.authenticator,
        sessions=SessionService(services.registry.db, services.authenticator, clock=services.clock),
        access=services.registry.access,
        require_auth=services.authenticator.required,
    )
    p = pages.Pages(services)
    a = actions.Actions(services, p)
    routes: list[BaseRoute] = [
        Route("/", p.index, methods=["GET", "HEAD"]),
        Route("/login", auth.login_form, methods=["GET", "HEAD"]),
        Route("/login", auth.login, methods=["POST"]),
        Route("/logout", auth.logout, methods=["POST"]),
        Route("/models/{name}", p.model, methods=["GET", "HEAD"]),
        Route("/models/{name}/history", p.history, methods=["GET", "HEAD"]),
        Route("/models/{name}/versions/{version:int}", p.version, methods=["GET", "HEAD"]),
        Route(
            "/models/{name}/versions/{version:int}/files/{path:path}",
            p.download,
            methods=["GET", "HEAD"],
        ),
        Route("/models/{name}/aliases", a.move_alias, methods=["POST"]),
        Route("/models/{name}/description", a.model_description, methods=["POST"]),
        Route("/models/{name}/tags", a.model_tag, methods=["POST"]),
        Route("/models/{name}/versions/{version:int}/stage", a.transition, methods=["POST"]),
        Route(
            "/models/{name}/versions/{version:int}/description",
            a.version_description,
            methods=["POST"],
        ),
        Route("/models/{name}/versions/{version:int}/tags", a.version_tag, methods=["POST"]),
        Route("/live", live.Live(services).stream, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=str(_STATIC)), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={RegistryError: _error_page, 404: _not_found},
    )
    app.state.console = ctx
    app.add_middleware(SecurityHeaders)
    return app


def console_routes(services: ConsoleServices) -> list[BaseRoute]:
    """The console as routes for the side port's app: everything not
    answered before it (/healthz, /metrics) is the console's."""
    return [Mount("", app=console_app(services))]
