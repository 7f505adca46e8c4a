"""Registry errors as MLflow's: ``MlflowException`` with MLflow's error codes.

MLflow's own code branches on those codes, not on messages: ``register_model``
goes on to create a version when creating the model raised
``RESOURCE_ALREADY_EXISTS``, the prompt registry treats
``RESOURCE_DOES_NOT_EXIST`` as "no such prompt". So each gRPC status maps to
the code MLflow's tracking server sends for the same situation, and the
server's message is kept verbatim (it names the offending field).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2

from registry_client._errors import RegistryError

__all__ = ["MLFLOW_CODES", "mlflow_errors", "to_mlflow_exception"]

#: gRPC status of a registry error -> MLflow's error code name.
MLFLOW_CODES: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.NOT_FOUND: "RESOURCE_DOES_NOT_EXIST",
    grpc.StatusCode.ALREADY_EXISTS: "RESOURCE_ALREADY_EXISTS",
    grpc.StatusCode.INVALID_ARGUMENT: "INVALID_PARAMETER_VALUE",
    grpc.StatusCode.OUT_OF_RANGE: "INVALID_PARAMETER_VALUE",
    grpc.StatusCode.PERMISSION_DENIED: "PERMISSION_DENIED",
    grpc.StatusCode.UNAUTHENTICATED: "UNAUTHENTICATED",
    # An alias compare-and-swap that lost, a version not READY: MLflow's
    # name for "the registry is not in the state this call needs".
    grpc.StatusCode.FAILED_PRECONDITION: "INVALID_STATE",
    grpc.StatusCode.UNAVAILABLE: "TEMPORARILY_UNAVAILABLE",
    grpc.StatusCode.DEADLINE_EXCEEDED: "DEADLINE_EXCEEDED",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "RESOURCE_EXHAUSTED",
    grpc.StatusCode.CANCELLED: "CANCELLED",
    grpc.StatusCode.ABORTED: "ABORTED",
    grpc.StatusCode.UNIMPLEMENTED: "NOT_IMPLEMENTED",
    grpc.StatusCode.DATA_LOSS: "DATA_LOSS",
    grpc.StatusCode.INTERNAL: "INTERNAL_ERROR",
}


def to_mlflow_exception(exc: RegistryError) -> MlflowException:
    """The ``MlflowException`` MLflow's code expects for ``exc``; anything
    unmapped becomes ``INTERNAL_ERROR``, MLflow's default."""
    name = MLFLOW_CODES.get(exc.code, "INTERNAL_ERROR")
    return MlflowException(exc.message or str(exc), error_code=databricks_pb2.ErrorCode.Value(name))


@contextmanager
def mlflow_errors() -> Iterator[None]:
    """Raise registry errors inside the block as ``MlflowException``.

    Argument errors the client raises before calling (a version that is not
    a number) become ``INVALID_PARAMETER_VALUE``, as MLflow's stores report
    them. The original error stays attached as ``__cause__``.
    """
    try:
        yield
    except RegistryError as exc:
        raise to_mlflow_exception(exc) from exc
    except (ValueError, TypeError) as exc:
        raise MlflowException(
            str(exc), error_code=databricks_pb2.ErrorCode.Value("INVALID_PARAMETER_VALUE")
        ) from exc
