"""create_server(config) -> (server, port): the vecdb gRPC server, started, apart from any CLI concern.

What it sets up: a thread pool (searches run nogil Numba kernels, so threads search in parallel), the vecdb
services, gRPC health checking (grpc.health.v1, SERVING per service) and reflection, optional token auth and
TLS, message size limits, and an interceptor that maps engine errors to statuses. `stop(grace)` flips health to
NOT_SERVING, refuses new calls, lets in-flight calls finish for up to `grace` seconds, then closes the database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

import vecdb
from vecdb.errors import FailedPrecondition

from .config import ServerConfig
from .interceptors import ErrorInterceptor, TokenAuthInterceptor
from .servicers import add_all

log = logging.getLogger("vecdb_server")


class VecdbServer:
    """A running server: the grpc.Server, the port it listens on, the database it serves, its health servicer."""

    def __init__(self, server: grpc.Server, port: int, database: vecdb.Database, health_servicer, services, config):
        self.grpc_server = server
        self.port = port
        self.database = database
        self.health = health_servicer
        self.services = list(services)
        self.config = config
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()

    @property
    def address(self) -> str:
        host = self.config.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown: NOT_SERVING, no new calls, in-flight calls finish (up to `grace` s), database closed.
        Safe to call more than once and from several threads (e.g. a signal handler and a finally block)."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            grace = self.config.grace if grace is None else grace
            self.health.enter_graceful_shutdown()  # every service NOT_SERVING, so balancers stop routing here
            log.info("shutting down: waiting up to %.1f s for in-flight calls", grace)
            self.grpc_server.stop(grace).wait()
            self.database.close()
            self._stopped.set()
            log.info("stopped")

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    def __enter__(self) -> VecdbServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(0)


def create_server(
    config: ServerConfig | None = None,
    *,
    interceptors: Sequence[grpc.ServerInterceptor] = (),
) -> tuple[VecdbServer, int]:
    """Open config.data, start serving it, and return (server, port); port is the bound one (useful with port 0).
    `interceptors` run after authentication and before error mapping (hooks for logging, metrics, tests)."""
    config = config or ServerConfig()
    db = vecdb.open(
        config.data,
        read_only=config.read_only,
        sync=config.sync,
        map_size=config.map_size,
        **({"max_map_size": config.max_map_size} if config.max_map_size else {}),
    )
    try:
        chain: list[grpc.ServerInterceptor] = []
        if config.token is not None:
            chain.append(TokenAuthInterceptor(config.token))
        chain += list(interceptors)
        chain.append(ErrorInterceptor())
        options = [
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
            ("grpc.so_reuseport", 0),  # a second server on a busy port must fail, not share it
        ]
        server = grpc.server(
            ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="vecdb-grpc"),
            interceptors=chain,
            options=options,
        )
        names = add_all(server, db, config)
        health_servicer = health.HealthServicer(experimental_non_blocking=True)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        for name in ["", *names]:
            health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        reflection.enable_server_reflection(
            [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
        )
        host = f"[{config.host}]" if ":" in config.host else config.host
        address = f"{host}:{config.port}"
        try:
            if config.tls:
                creds = grpc.ssl_server_credentials([config.tls_pair()])
                port = server.add_secure_port(address, creds)
            else:
                port = server.add_insecure_port(address)
        except RuntimeError as e:
            raise FailedPrecondition(f"cannot listen on {address}: {e}") from None
        if port == 0:
            raise FailedPrecondition(f"cannot listen on {address} (address in use or not available)")
        server.start()
    except BaseException:
        db.close()
        raise
    log.info(
        "vecdb serving %s on %s:%d (%s%s)",
        config.data,
        config.host,
        port,
        "TLS" if config.tls else "plaintext",
        ", token auth" if config.token else "",
    )
    return VecdbServer(server, port, db, health_servicer, names, config), port
