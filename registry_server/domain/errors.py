"""The one error hierarchy of the server.

Each class carries the name of the gRPC status code it becomes, so the API
layer can translate without the domain importing grpc. Messages are shown to
callers verbatim: they name the offending field and never leak internals.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base of every error a caller is meant to see."""

    code: str = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(RegistryError):
    code = "INVALID_ARGUMENT"


class NotFound(RegistryError):
    code = "NOT_FOUND"


class AlreadyExists(RegistryError):
    code = "ALREADY_EXISTS"


class FailedPrecondition(RegistryError):
    code = "FAILED_PRECONDITION"


class OutOfRange(RegistryError):
    """A position past the end of something that exists (e.g. a download
    offset beyond the file's size): valid in form, but not for this object."""

    code = "OUT_OF_RANGE"


class PermissionDenied(RegistryError):
    code = "PERMISSION_DENIED"


class Unauthenticated(RegistryError):
    code = "UNAUTHENTICATED"


class Unavailable(RegistryError):
    """The database (or another dependency) cannot be reached; retrying may help."""

    code = "UNAVAILABLE"


class ResourceExhausted(RegistryError):
    """A caller holds as much of a shared resource as it may (e.g. open
    upload streams); retrying once some is released may help."""

    code = "RESOURCE_EXHAUSTED"


ALL_ERRORS: tuple[type[RegistryError], ...] = (
    InvalidArgument,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    OutOfRange,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
    ResourceExhausted,
)
