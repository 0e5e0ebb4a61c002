"""vecdb: a vector database with learned compression, embedded (`vecdb.open(path)`) or over gRPC."""

from .database import Database, open
from .errors import (
    AlreadyExists,
    CorruptDatabase,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ReadOnly,
    ResourceExhausted,
    StorageFull,
    VecDBError,
)
from .params import HNSWParams, SearchParams
from .results import Hit, Hits, Point, ScrollPage
from .schema import Binary, CollectionSchema, Dense, MultiVector, PayloadType
from .verify import verify

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "Binary",
    "CollectionSchema",
    "CorruptDatabase",
    "Database",
    "Dense",
    "FailedPrecondition",
    "Hit",
    "HNSWParams",
    "Hits",
    "InvalidArgument",
    "MultiVector",
    "NotFound",
    "PayloadType",
    "Point",
    "ReadOnly",
    "ResourceExhausted",
    "ScrollPage",
    "SearchParams",
    "StorageFull",
    "VecDBError",
    "open",
    "verify",
]
