"""WatchModelEvents on the wire, and the threads its streams run on.

A watch stream holds its thread for as long as it is open (grpcio's
synchronous server), so streams get a pool of their own, sized by the
stream limit: a thousand watchers never take a worker from other calls, and
the limit (events/watch.py) refuses the stream that would need one more.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.rpcs import RPCS
from registry_server.api import convert
from registry_server.api.auth import current_caller
from registry_server.api.calls import end_call
from registry_server.api.interceptors import CachingInterceptor
from registry_server.domain.entities import ModelEvent
from registry_server.events.watch import WatchRequest, WatchService

WATCH_METHOD = RPCS["WatchModelEvents"].full_method


class _EncodedEvents:
    """Each event's response bytes, made once per process: a response that
    carries an event is the same for every stream it goes to (its cursor is
    the event's id), so a thousand watchers cost one serialization, not a
    thousand. Bounded: the newest `size` events."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._encoded: OrderedDict[int, bytes] = OrderedDict()

    def get(self, event: ModelEvent) -> bytes:
        with self._lock:
            found = self._encoded.get(event.event_id)
        if found is not None:
            return found
        encoded = pb.WatchModelEventsResponse(
            event=convert.event_to_proto(event), cursor=event.event_id
        ).SerializeToString()
        with self._lock:
            self._encoded[event.event_id] = encoded
            if len(self._encoded) > self._size:
                self._encoded.popitem(last=False)
        return encoded


class WatchRpcs:
    """The servicer's WatchModelEvents (a mixin of ModelRegistryServicer)."""

    watch: WatchService | None

    def WatchModelEvents(
        self, request: pb.WatchModelEventsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.WatchModelEventsResponse | bytes]:
        """Yields heartbeats as messages and events as their shared bytes
        (the response serializer passes bytes through: server.py)."""
        if self.watch is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "this server does not serve watch streams")
        assert self.watch is not None
        watch = self.watch.open(
            WatchRequest(
                name=request.name,
                kinds=tuple(request.kinds),
                alias=request.alias,
                after_event_id=request.after_event_id,
                from_beginning=request.from_beginning,
            ),
            current_caller(),
        )

        def cut_off() -> None:
            # The handler's thread may be blocked sending to a client that
            # stopped reading: end the call from here.
            end_call(
                context,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "the watcher fell behind (REGISTRY_WATCH_BUFFER); resume from the last cursor",
            )

        # One cache per servicer (one database): event ids are per database.
        encoded: _EncodedEvents = self.__dict__.setdefault("_encoded_events", _EncodedEvents())
        watch.mailbox.on_overflow = cut_off
        context.add_callback(watch.close)
        try:
            for event, cursor in watch:
                if event is None:
                    yield pb.WatchModelEventsResponse(cursor=cursor)
                else:
                    yield encoded.get(event)
        finally:
            watch.close()


class WatchPool(CachingInterceptor):
    """Runs WatchModelEvents on a pool of its own (see the module doc);
    outermost with the read pool, so grpcio sees the attribute."""

    def __init__(self, threads: int) -> None:
        super().__init__()
        self.pool = futures.ThreadPoolExecutor(threads, thread_name_prefix="watch")

    def wrap(self, method: str, handler: Any) -> Any:
        if method != WATCH_METHOD or handler.unary_stream is None:
            return handler
        behavior = handler.unary_stream

        def on_watch_pool(request: Any, context: Any) -> Any:
            return behavior(request, context)

        on_watch_pool.experimental_thread_pool = self.pool  # type: ignore[attr-defined]
        return handler._replace(unary_stream=on_watch_pool)
