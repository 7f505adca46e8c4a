"""Live updates: Server-Sent Events fed by the watch stream.

`GET /live?name=<model>` opens a WatchService stream as the viewer (the
same checks, limits and visibility as WatchModelEvents) and forwards each
event as one SSE message: `{"id", "kind", "model", "version", "actor"}`.
static/console.js listens (EventSource) and refreshes the parts of the page
marked live, without a reload. Heartbeats become SSE comments, which keep
proxies from closing an idle stream.

A watch blocks a thread while it waits; those threads come from a limiter of
their own (sized by the watch stream limit), so open consoles never take the
threads pages are served from. A closed browser tab cancels the stream, which
closes the watch and frees its slot.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from registry_server.console.services import ConsoleServices
from registry_server.console.web import viewer
from registry_server.domain.errors import RegistryError
from registry_server.events.watch import Watch, WatchRequest

_DONE = object()


class _EventStream(StreamingResponse):
    """An SSE response that closes its watch however it ends (a closed tab
    cancels the response before its generator is finalized)."""

    def __init__(self, content: AsyncIterator[str], watch: Watch) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        self._watch = watch

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._watch.close()


class Live:
    def __init__(self, services: ConsoleServices) -> None:
        self.s = services
        streams = services.watch.settings.max_streams if services.watch is not None else 1
        self._threads = anyio.CapacityLimiter(max(1, streams))

    async def stream(self, request: Request) -> Response:
        caller = await anyio.to_thread.run_sync(viewer, request)
        if caller is None:
            return PlainTextResponse("sign in first\n", status_code=401)
        if self.s.watch is None:
            return PlainTextResponse("live updates are off on this server\n", status_code=404)
        name = request.query_params.get("name", "")[:1000]
        try:
            watch: Watch = await anyio.to_thread.run_sync(
                self.s.watch.open, WatchRequest(name=name), caller
            )
        except RegistryError as refused:
            # EventSource retries on its own; 204 tells it to stop.
            return Response(status_code=204, headers={"X-Refused": refused.code})
        return _EventStream(self._events(watch), watch)

    async def _events(self, watch: Watch) -> AsyncIterator[str]:
        events = iter(watch)

        def take() -> Any:
            return next(events, _DONE)

        try:
            yield "retry: 3000\n\n"
            while True:
                try:
                    item = await anyio.to_thread.run_sync(
                        take, limiter=self._threads, abandon_on_cancel=True
                    )
                except RegistryError:
                    return  # shutdown, overflow: the browser reconnects
                if item is _DONE:
                    return
                event, cursor = item
                if event is None:
                    yield ": heartbeat\n\n"
                    continue
                data = {
                    "id": event.event_id,
                    "kind": event.kind,
                    "model": event.model_name,
                    "version": event.version,
                    "actor": event.actor,
                }
                yield f"id: {cursor}\ndata: {json.dumps(data, ensure_ascii=True)}\n\n"
        finally:
            watch.close()
