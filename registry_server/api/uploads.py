"""Admission of UploadArtifact streams: a stream holds a worker thread for as
long as it is open, so an idle or unauthorised one must not hold it long.

Any token, even of role none, could once hold every worker by opening
UploadArtifact streams and sending nothing: the handler waited for the first
message (the header, which names the model) before checking anything, and
writes from everyone else queued behind. Now, before the header is read:

* one principal has at most ``uploads_per_principal`` streams open
  (REGISTRY_UPLOADS_PER_PRINCIPAL), RESOURCE_EXHAUSTED beyond, so one
  caller cannot take every worker; a caller who can write nowhere (global
  role below writer and no writer or admin grant on any model) has one;
* a stream that sends no header within ``header_timeout`` seconds
  (REGISTRY_UPLOAD_HEADER_TIMEOUT) is ended with DEADLINE_EXCEEDED.

Why a caller who can write nowhere is not refused before its header: the
access rules answer a change to a model the caller may not read with that
model's NOT_FOUND, and record every refused change in that model's history
(domain/access.py); both need the model, which only the header names. An
early PERMISSION_DENIED would tell such a caller less truthfully and leave
no record. One slot and the header timeout bound what it can hold instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from registry_server.domain.access import Caller, Role
from registry_server.domain.errors import ResourceExhausted
from registry_server.store.database import Database
from registry_server.store.write_grants import has_write_grant

log = logging.getLogger(__name__)


def grant_lookup(db: Database) -> Callable[[Caller], bool]:
    """Whether a caller holds a writer or admin grant on some model."""

    def writes_somewhere(caller: Caller) -> bool:
        with db.read() as conn:
            return has_write_grant(conn, caller.principal)

    return writes_somewhere


class UploadGate:
    def __init__(
        self,
        header_timeout: float,
        uploads_per_principal: int,
        writes_somewhere: Callable[[Caller], bool],
    ) -> None:
        self.header_timeout = header_timeout
        self.uploads_per_principal = uploads_per_principal
        self._writes_somewhere = writes_somewhere
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}

    def share(self, caller: Caller) -> int:
        """Upload streams the caller may have open at once."""
        if not caller.authenticated or caller.role >= Role.WRITER:
            return self.uploads_per_principal
        return self.uploads_per_principal if self._writes_somewhere(caller) else 1

    @contextmanager
    def admitted(self, caller: Caller) -> Iterator[None]:
        """One of the caller's open upload streams, refused beyond its share."""
        principal = caller.principal
        share = self.share(caller)
        with self._lock:
            held = self._open.get(principal, 0)
            if held >= share:
                why = (
                    "REGISTRY_UPLOADS_PER_PRINCIPAL"
                    if share == self.uploads_per_principal
                    else "one for a caller who can write to no model"
                )
                raise ResourceExhausted(
                    f"{principal!r} already has {held} uploads open, the most it may ({why}); "
                    "retry when one ends"
                )
            self._open[principal] = held + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._open[principal] - 1
                if left:
                    self._open[principal] = left
                else:
                    del self._open[principal]

    def first_message(self, requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        """The stream's first message, or the call ended with DEADLINE_EXCEEDED
        when none comes within the header timeout (None: the stream ended)."""
        timer = threading.Timer(self.header_timeout, _end_call, (context, self.header_timeout))
        timer.daemon = True
        timer.start()
        try:
            return next(requests, None)
        finally:
            timer.cancel()


def _end_call(context: grpc.ServicerContext, timeout: float) -> None:
    """Ends a call from another thread, with a status the client can read.

    grpcio's ``context.abort`` works only in the handler's thread, and
    ``context.cancel`` answers CANCELLED without a message; the core call's
    ``cancel`` takes a status and details. Its absence (another grpcio) falls
    back to ``context.cancel``."""
    details = f"header: no UploadArtifact header within {timeout:g} seconds"
    call: Any = getattr(getattr(context, "_rpc_event", None), "call", None)
    if call is None:
        context.cancel()
        return
    try:
        call.cancel(grpc.StatusCode.DEADLINE_EXCEEDED.value[0], details)
    except Exception:
        log.debug("ending the call with a status failed; cancelling it", exc_info=True)
        context.cancel()
