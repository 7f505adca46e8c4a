"""Server interceptors: domain errors -> gRPC status, and one log line per call.

Unary handlers are wrapped (not just intercepted) so the interceptor sees the
outcome of the call, which plain `intercept_service` does not give.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import grpc

from registry_server.domain.errors import RegistryError

log = logging.getLogger("registry_server.calls")

INTERNAL_MESSAGE = "internal error; the server log has the details"


def _status_code(error: RegistryError) -> grpc.StatusCode:
    return grpc.StatusCode[error.code]


class _Outcome:
    __slots__ = ("code",)

    def __init__(self) -> None:
        self.code = grpc.StatusCode.OK


def _wrap_unary(method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
    def handler(request: Any, context: grpc.ServicerContext) -> Any:
        started = time.perf_counter()
        outcome = _Outcome()
        try:
            return behavior(request, context)
        except RegistryError as exc:
            outcome.code = _status_code(exc)
            context.abort(outcome.code, exc.message)
        except Exception:
            outcome.code = grpc.StatusCode.INTERNAL
            log.exception("unhandled error in %s", method)
            context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.info("%s %s %.1fms", method, outcome.code.name, elapsed_ms)

    return handler


class ErrorAndLoggingInterceptor(grpc.ServerInterceptor):
    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = continuation(handler_call_details)
        if handler is None or handler.request_streaming or handler.response_streaming:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            _wrap_unary(handler_call_details.method, handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
