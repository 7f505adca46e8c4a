"""Admission of UploadArtifact streams: a stream holds a worker thread for as
long as it is open, so an idle or unauthorised one must not hold it long.

Any token, even of role none, could once hold every worker by opening
UploadArtifact streams and sending nothing: the handler waited for the first
message (the header, which names the model) before checking anything, and
writes from everyone else queued behind. Now:

* a caller who can write nowhere (global role below writer and no writer or
  admin grant on any model) is refused with PERMISSION_DENIED before the
  header is awaited, so it holds no worker at all;
* one principal has at most ``uploads_per_principal`` streams open
  (REGISTRY_UPLOADS_PER_PRINCIPAL), RESOURCE_EXHAUSTED beyond, so one
  caller cannot take every worker;
* a stream that sends no header within ``header_timeout`` seconds
  (REGISTRY_UPLOAD_HEADER_TIMEOUT), or that then waits more than
  ``message_timeout`` seconds (REGISTRY_UPLOAD_MESSAGE_TIMEOUT) for its next
  message, is ended with DEADLINE_EXCEEDED. Without the second bound a client
  that stopped sending mid-file held its worker until its own deadline, or
  for ever if it set none; the file's reservation is undone as for any failed
  upload (domain/artifacts.py), so the version stays pending and the same
  path can be sent again.

The early refusal names no model, so it tells a caller nothing about any
model's existence (the access rules answer a change to a model the caller may
not read with NOT_FOUND, domain/access.py). It is recorded as a refusal of
what needs a global role is (an ``access_denied`` event without a model, at
most one a minute per principal), since only the header could name a model.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from registry_server.api.calls import end_call
from registry_server.domain.access import AccessDenied, Caller, Role
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
        message_timeout: float = 60.0,
    ) -> None:
        self.header_timeout = header_timeout
        self.message_timeout = message_timeout
        self.uploads_per_principal = uploads_per_principal
        self._writes_somewhere = writes_somewhere
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}

    def may_write(self, caller: Caller) -> bool:
        """Whether the caller could upload into some model at all."""
        if not caller.authenticated or caller.role >= Role.WRITER:
            return True
        return self._writes_somewhere(caller)

    @contextmanager
    def admitted(self, caller: Caller) -> Iterator[None]:
        """One of the caller's open upload streams, refused beyond its share
        and refused outright to a caller who can write to no model."""
        if not self.may_write(caller):
            # Recorded like a refusal of what needs a global role (model id
            # 0, at most one a minute per principal: api/auth.py).
            raise AccessDenied(
                "uploading a file needs role writer, globally or by a grant on some model; "
                f"{caller.principal!r} has {caller.role.label} and no such grant",
                caller=caller,
                action="uploading a file",
                needed=Role.WRITER,
            )
        principal = caller.principal
        with self._lock:
            held = self._open.get(principal, 0)
            if held >= self.uploads_per_principal:
                raise ResourceExhausted(
                    f"{principal!r} already has {held} uploads open, the most it may "
                    "(REGISTRY_UPLOADS_PER_PRINCIPAL); retry when one ends"
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

    @contextmanager
    def messages(
        self, requests: Iterator[Any], context: grpc.ServicerContext
    ) -> Iterator[Iterator[Any]]:
        """The stream's messages, the call ended with DEADLINE_EXCEEDED when the
        header does not come within the header timeout or a later message not
        within the message timeout. Time the handler spends on a message (e.g.
        writing it to S3) does not count: only time spent waiting for one."""
        watch = _StreamWatch(context, self.header_timeout, self.message_timeout)
        try:
            yield watch.messages(requests)
        finally:
            watch.stop()


class _StreamWatch:
    """One thread per open upload stream that ends the call when the handler
    has waited too long for the client's next message."""

    def __init__(
        self, context: grpc.ServicerContext, header_timeout: float, message_timeout: float
    ) -> None:
        self._context = context
        self._header_timeout = header_timeout
        self._message_timeout = message_timeout
        self._lock = threading.Lock()
        self._waiting_since: float | None = None
        self._received = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="upload-watch", daemon=True)
        self._thread.start()

    def messages(self, requests: Iterator[Any]) -> Iterator[Any]:
        while True:
            with self._lock:
                self._waiting_since = time.monotonic()
            try:
                message = next(requests, None)
            finally:
                with self._lock:
                    self._waiting_since = None
                    self._received += 1
            if message is None:
                return
            yield message

    def stop(self) -> None:
        self._stopped.set()

    def _limit(self) -> float:
        return self._header_timeout if self._received == 0 else self._message_timeout

    def _run(self) -> None:
        while True:
            with self._lock:
                since, limit, header = self._waiting_since, self._limit(), self._received == 0
            # Not waiting: look again after one limit (waiting that starts
            # meanwhile is caught at its own limit, never later).
            left = limit if since is None else since + limit - time.monotonic()
            if left <= 0:
                if header:
                    details = f"header: no UploadArtifact header within {limit:g} seconds"
                else:
                    details = (
                        f"chunk: no UploadArtifact message for {limit:g} seconds "
                        "(REGISTRY_UPLOAD_MESSAGE_TIMEOUT); the file was not stored, send it again"
                    )
                _end_call(self._context, details)
                return
            if self._stopped.wait(left):
                return


def _end_call(context: grpc.ServicerContext, details: str) -> None:
    """Ends a stalled upload from the watcher's thread (api/calls.py)."""
    end_call(context, grpc.StatusCode.DEADLINE_EXCEEDED, details)
