"""A WatchModelEvents stream read on a thread of its own, for the watch tests.

The tests use the generated stub (the wire contract itself); the client's
reconnecting iterator is tested on top of it elsewhere.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from registry_api.proto.modelregistry.v1 import registry_pb2 as pb
from registry_api.proto.modelregistry.v1 import registry_pb2_grpc


@dataclass(frozen=True)
class Received:
    """One response: an event (event_id > 0) or a heartbeat (event_id 0)."""

    event_id: int
    kind: str
    model_name: str
    cursor: int


class Watcher:
    def __init__(
        self,
        target: str,
        *,
        secret: str | None = None,
        name: str = "",
        kinds: Sequence[str] = (),
        alias: str = "",
        after: int = 0,
        from_beginning: bool = False,
    ) -> None:
        self.channel = grpc.insecure_channel(target)
        stub = registry_pb2_grpc.ModelRegistryStub(self.channel)
        metadata = [("authorization", f"Bearer {secret}")] if secret else []
        self.call = stub.WatchModelEvents(
            pb.WatchModelEventsRequest(
                name=name,
                kinds=list(kinds),
                alias=alias,
                after_event_id=after,
                from_beginning=from_beginning,
            ),
            metadata=metadata,
        )
        self.received: list[Received] = []
        self.ended: grpc.StatusCode | None = None
        self.details = ""
        self._updates: queue.Queue[None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for response in self.call:
                event = response.event if response.HasField("event") else None
                self.received.append(
                    Received(
                        event.event_id if event else 0,
                        event.kind if event else "",
                        event.model_name if event else "",
                        response.cursor,
                    )
                )
                self._updates.put(None)
        except grpc.RpcError as exc:
            self.ended = exc.code()
            self.details = exc.details() or ""
        else:
            self.ended = grpc.StatusCode.OK
        self._updates.put(None)

    @property
    def events(self) -> list[Received]:
        return [r for r in self.received if r.event_id]

    @property
    def event_ids(self) -> list[int]:
        return [r.event_id for r in self.events]

    @property
    def cursor(self) -> int:
        return self.received[-1].cursor if self.received else 0

    def wait_for(self, predicate: object, timeout: float = 15.0, what: str = "") -> None:
        """Until `predicate(self)` holds (re-checked on every response)."""
        deadline = time.monotonic() + timeout
        while not predicate(self):  # type: ignore[operator]
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"watcher: timed out waiting for {what or predicate}; "
                    f"received {self.received[-5:]}, ended {self.ended} {self.details}"
                )
            try:
                self._updates.get(timeout=left)
            except queue.Empty:
                continue

    def wait_started(self) -> None:
        self.wait_for(lambda w: w.received or w.ended, what="the first response")
        assert self.ended is None, (self.ended, self.details)

    def wait_ended(self, timeout: float = 15.0) -> grpc.StatusCode:
        self.wait_for(lambda w: w.ended is not None, timeout, "the end of the stream")
        assert self.ended is not None
        return self.ended

    def close(self) -> None:
        self.call.cancel()
        self._thread.join(timeout=5)
        self.channel.close()
