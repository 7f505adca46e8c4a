"""Typed exceptions for registry calls.

Callers branch on *what went wrong* (the model is missing, the alias moved
under us, the server is down), and a gRPC status code is the only part of a
failed call that is a stable contract. Giving each code we document its own
class lets ``except NotFound:`` replace ``if exc.code() == ...`` checks and
keeps gRPC types out of most calling code.
"""

from __future__ import annotations

from typing import Any

import grpc

__all__ = [
    "AlreadyExists",
    "ChecksumMismatch",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "RegistryError",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "error_from_rpc",
]


class RegistryError(Exception):
    """A registry call failed with a gRPC status.

    ``code`` is the status code and ``message`` the server's detail string,
    which names the offending field; both are kept verbatim so that a CLI or a
    log line can show exactly what the server said.
    """

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str = "", code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            # Only the base class is built with an explicit code (for status
            # codes without a subclass); subclasses keep their class attribute.
            self.code = code

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code.name}, message={self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception pickling replays ``self.args`` only, which would lose a
        # code passed to the base class (e.g. across multiprocessing).
        return (type(self), (self.message, self.code))


class InvalidArgument(RegistryError):
    """A request field is malformed; retrying the same request cannot help."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(RegistryError):
    """The model, version, alias or tag does not exist."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(RegistryError):
    """The name is already taken."""

    code = grpc.StatusCode.ALREADY_EXISTS


class OutOfRange(RegistryError):
    """A position or range lies past the end of what exists, e.g. a download
    offset beyond the file's size; unlike InvalidArgument, a valid request
    for a smaller value may succeed."""

    code = grpc.StatusCode.OUT_OF_RANGE


class FailedPrecondition(RegistryError):
    """The registry is not in the state the call requires.

    For example an alias compare-and-swap whose expected version no longer
    matches, or promoting a version that is not READY. Re-read, then decide.
    """

    code = grpc.StatusCode.FAILED_PRECONDITION


class PermissionDenied(RegistryError):
    """The caller may not perform this call."""

    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(RegistryError):
    """The caller's identity is missing or invalid."""

    code = grpc.StatusCode.UNAUTHENTICATED


class Unavailable(RegistryError):
    """The server or its database cannot be reached; may succeed later."""

    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(RegistryError):
    """The call did not finish within its timeout; it may still have taken effect."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class ResourceExhausted(RegistryError):
    """A limit was hit (message size, rate, quota)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Internal(RegistryError):
    """A server bug; the server logs the details, the message is generic."""

    code = grpc.StatusCode.INTERNAL


class ChecksumMismatch(RegistryError):
    """A transferred file differs from its manifest entry (size or sha256).

    Raised by the client itself, never by the server: after a download whose
    bytes do not match what the registry recorded (the file is not written),
    after an upload the server stored differently from what was sent, or
    after an upload during which the local file changed.
    ``code`` is DATA_LOSS so that it reads like the other errors in logs and
    the CLI. ``path`` names the file; ``expected``/``actual`` are
    ``(size, sha256)`` pairs.
    """

    code = grpc.StatusCode.DATA_LOSS

    def __init__(
        self,
        message: str = "",
        code: grpc.StatusCode | None = None,
        *,
        path: str = "",
        expected: tuple[int, str] | None = None,
        actual: tuple[int, str] | None = None,
    ) -> None:
        super().__init__(message, code)
        self.path = path
        self.expected = expected
        self.actual = actual

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.code), self.__dict__)


# Not listed: ChecksumMismatch, whose code a server could also send for
# reasons that have nothing to do with a checksum.
_BY_CODE: dict[grpc.StatusCode, type[RegistryError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        FailedPrecondition,
        OutOfRange,
        PermissionDenied,
        Unauthenticated,
        Unavailable,
        DeadlineExceeded,
        ResourceExhausted,
        Internal,
    )
}


def error_from_rpc(exc: grpc.RpcError) -> RegistryError:
    """Convert a failed gRPC call into the matching typed error.

    Codes without a dedicated class (CANCELLED, ABORTED, ...) become a plain
    ``RegistryError`` that still carries the code, so nothing is lost.
    """
    # Errors raised by unary calls are also ``grpc.Call`` objects with code()
    # and details(); a bare RpcError (e.g. from a test double) may lack them.
    code_fn = getattr(exc, "code", None)
    details_fn = getattr(exc, "details", None)
    code = code_fn() if callable(code_fn) else None
    details = details_fn() if callable(details_fn) else None
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    message = details if isinstance(details, str) else str(exc)
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls(message)
    return RegistryError(message, code)
