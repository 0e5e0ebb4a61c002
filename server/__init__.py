"""vecdb gRPC server: `create_server(config) -> (server, port)`, and the `vecdb serve` command."""

from .app import VecdbServer, create_server
from .config import ServerConfig

__all__ = ["ServerConfig", "VecdbServer", "create_server"]
