"""Server configuration: one frozen dataclass, validated once (the CLI and create_server share it)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from vecdb.collection import MAX_K, MAX_QUERIES
from vecdb.errors import InvalidArgument
from vecdb.filters import MAX_DEPTH

DEFAULT_DATA_DIR = "vecdb-data"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50051
DEFAULT_MAX_MESSAGE_BYTES = 64 << 20
# Request limits (see server/limits.py). A search answer is allocated as queries x k before it is trimmed, so the
# product is bounded on its own: 10,000 queries x k=10,000 would allocate 1.2 GB for one call.
DEFAULT_MAX_RESULTS = 1_000_000
DEFAULT_MAX_POINTS = 1_000_000
DEFAULT_MAX_FILTER_NODES = 10_000


def _pem(value: str | bytes | None, what: str) -> bytes | None:
    """PEM given inline (bytes or a string holding '-----BEGIN') or as a file path."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode()
    try:
        with open(value, "rb") as f:
            return f.read()
    except OSError as e:
        raise InvalidArgument(f"cannot read {what} {value!r}: {e}") from None


@dataclass(frozen=True)
class ServerConfig:
    """data: database directory (created if needed); host/port: where to listen (port 0 picks a free port);
    workers: request threads (searches run Numba kernels that release the GIL, so threads search in parallel);
    token: when set, every call except health checks must carry `authorization: Bearer <token>`;
    tls_cert / tls_key: PEM (paths or contents) to serve TLS; max_message_bytes: largest request or reply;
    grace: seconds in-flight calls get to finish on shutdown; read_only / sync / map_size / max_map_size: as vecdb.open.

    Request limits (a request over one is refused before anything is decoded or allocated; values the engine
    itself rejects keep the engine's error, so embedded and remote calls fail alike): max_k: k of a search;
    max_queries: queries in one search call; max_results: queries x k of one call; max_points: points of one upsert
    (or of one atomic upsert stream) and ids of one get/delete; max_filter_depth / max_filter_nodes: nesting and
    size of a filter. backup_dir: when set, Admin.Backup only writes inside this directory (paths are taken
    relative to it); when None, any path the server process can write to (trusted clients only)."""

    data: str = DEFAULT_DATA_DIR
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 16
    token: str | None = None
    tls_cert: str | bytes | None = None
    tls_key: str | bytes | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    grace: float = 30.0
    read_only: bool = False
    sync: bool = True
    map_size: int | None = None
    max_map_size: int | None = None
    max_k: int = MAX_K
    max_queries: int = MAX_QUERIES
    max_results: int = DEFAULT_MAX_RESULTS
    max_points: int = DEFAULT_MAX_POINTS
    max_filter_depth: int = MAX_DEPTH
    max_filter_nodes: int = DEFAULT_MAX_FILTER_NODES
    backup_dir: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", os.fspath(self.data))
        for name, hi in (
            ("max_k", MAX_K),
            ("max_queries", MAX_QUERIES),
            ("max_results", MAX_K * MAX_QUERIES),
            ("max_points", 2**32 - 1),
            ("max_filter_depth", MAX_DEPTH),
            ("max_filter_nodes", 10_000_000),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= hi:
                raise InvalidArgument(f"{name} must be an integer in [1, {hi}], got {v!r}")
        if self.backup_dir is not None:
            if not isinstance(self.backup_dir, (str, os.PathLike)) or "\0" in os.fspath(self.backup_dir):
                raise InvalidArgument(f"backup_dir must be a directory path, got {self.backup_dir!r}")
            object.__setattr__(self, "backup_dir", os.path.realpath(os.fspath(self.backup_dir)))
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise InvalidArgument(f"port must be an integer in [0, 65535], got {self.port!r}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or not 1 <= self.workers <= 1024:
            raise InvalidArgument(f"workers must be an integer in [1, 1024], got {self.workers!r}")
        if not isinstance(self.max_message_bytes, int) or not 1024 <= self.max_message_bytes <= 2**31 - 1:
            raise InvalidArgument(f"max_message_bytes must be in [1024, 2**31 - 1], got {self.max_message_bytes!r}")
        if self.token is not None and (not isinstance(self.token, str) or not self.token):
            raise InvalidArgument("token must be a non-empty string (or None for no authentication)")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise InvalidArgument("TLS needs both tls_cert and tls_key")
        if not isinstance(self.grace, (int, float)) or self.grace < 0:
            raise InvalidArgument(f"grace must be a number of seconds >= 0, got {self.grace!r}")

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def tls_pair(self) -> tuple[bytes, bytes]:
        return _pem(self.tls_key, "TLS key"), _pem(self.tls_cert, "TLS certificate")  # type: ignore[return-value]
