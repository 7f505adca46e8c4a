"""Ending a call from a thread that is not the handler's."""

from __future__ import annotations

import logging
from typing import Any

import grpc

log = logging.getLogger(__name__)


def end_call(context: grpc.ServicerContext, code: grpc.StatusCode, details: str) -> None:
    """Ends the call with `code` and `details`, from any thread.

    grpcio's ``context.abort`` works only in the handler's thread (which may
    be blocked sending to a client that stopped reading), and
    ``context.cancel`` answers CANCELLED without a message; the core call's
    ``cancel`` takes a status and details. Its absence (another grpcio)
    falls back to ``context.cancel``."""
    call: Any = getattr(getattr(context, "_rpc_event", None), "call", None)
    if call is None:
        context.cancel()
        return
    try:
        call.cancel(code.value[0], details)
    except Exception:
        log.debug("ending the call with a status failed; cancelling it", exc_info=True)
        context.cancel()
