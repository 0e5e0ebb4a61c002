"""The one error hierarchy of vecdb.

Every error carries the name of the gRPC status code it maps to, so the server can translate it without a table
of its own and the client can rebuild the same class from the status it receives (see `error_for_code`).
The engine never imports grpc: codes are plain strings here.
"""

from __future__ import annotations


class VecDBError(Exception):
    """Base class of every error vecdb raises on purpose."""

    grpc_code = "INTERNAL"


class InvalidArgument(VecDBError, ValueError):
    """The request is malformed: wrong dimension, NaN, unknown field, bad id, bad parameter..."""

    grpc_code = "INVALID_ARGUMENT"


class NotFound(VecDBError, KeyError):
    """A collection, field, model version or path that the request names does not exist."""

    grpc_code = "NOT_FOUND"

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class AlreadyExists(VecDBError):
    """Creating something whose name is taken."""

    grpc_code = "ALREADY_EXISTS"


class FailedPrecondition(VecDBError):
    """The request is valid but the database is not in a state to run it (read-only, untrained codec...)."""

    grpc_code = "FAILED_PRECONDITION"


class ReadOnly(FailedPrecondition):
    """A write was attempted through a database opened read-only."""


class StorageFull(VecDBError):
    """The map reached its configured maximum or the disk is full; nothing of the failed write was kept."""

    grpc_code = "RESOURCE_EXHAUSTED"


class ResourceExhausted(VecDBError):
    """A request exceeds a configured limit (batch size, k, message size)."""

    grpc_code = "RESOURCE_EXHAUSTED"


class CorruptDatabase(VecDBError):
    """The files at the data path are damaged or are not a vecdb database."""

    grpc_code = "DATA_LOSS"


class Unauthenticated(VecDBError):
    grpc_code = "UNAUTHENTICATED"


class PermissionDenied(VecDBError):
    grpc_code = "PERMISSION_DENIED"


class DeadlineExceeded(VecDBError):
    grpc_code = "DEADLINE_EXCEEDED"


class Unavailable(VecDBError):
    grpc_code = "UNAVAILABLE"


class Cancelled(VecDBError):
    grpc_code = "CANCELLED"


class Unimplemented(VecDBError):
    """The server does not offer this call (an older server, or a feature not served remotely)."""

    grpc_code = "UNIMPLEMENTED"


ALL_ERRORS: tuple[type[VecDBError], ...] = (
    VecDBError,
    InvalidArgument,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    ReadOnly,
    StorageFull,
    ResourceExhausted,
    CorruptDatabase,
    Unauthenticated,
    PermissionDenied,
    DeadlineExceeded,
    Unavailable,
    Cancelled,
    Unimplemented,
)

_BY_NAME = {cls.__name__: cls for cls in ALL_ERRORS}
# When only a status code is known (a peer that sent no class name), this is the class it maps back to.
_BY_CODE = {
    "INVALID_ARGUMENT": InvalidArgument,
    "NOT_FOUND": NotFound,
    "ALREADY_EXISTS": AlreadyExists,
    "FAILED_PRECONDITION": FailedPrecondition,
    "RESOURCE_EXHAUSTED": ResourceExhausted,
    "DATA_LOSS": CorruptDatabase,
    "UNAUTHENTICATED": Unauthenticated,
    "PERMISSION_DENIED": PermissionDenied,
    "DEADLINE_EXCEEDED": DeadlineExceeded,
    "UNAVAILABLE": Unavailable,
    "CANCELLED": Cancelled,
    "UNIMPLEMENTED": Unimplemented,
}


def error_for(name: str | None, code: str) -> type[VecDBError]:
    """The class to raise for an error that crossed the wire: by class name when known, else by status code."""
    if name and name in _BY_NAME:
        return _BY_NAME[name]
    return _BY_CODE.get(code, VecDBError)
