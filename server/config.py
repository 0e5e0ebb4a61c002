"""Server configuration: one frozen dataclass, validated once (the CLI and create_server share it)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from vecdb.errors import InvalidArgument

DEFAULT_DATA_DIR = "vecdb-data"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50051
DEFAULT_MAX_MESSAGE_BYTES = 64 << 20


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
    grace: seconds in-flight calls get to finish on shutdown; read_only / sync / max_map_size: as vecdb.open."""

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
    max_map_size: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", os.fspath(self.data))
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
