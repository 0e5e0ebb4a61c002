"""The connection to a vecdb server: channel options, retries of idempotent calls, auth metadata, deadlines, and the
translation of gRPC statuses back into vecdb.errors classes."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from vecdb.errors import ResourceExhausted, VecDBError, error_for

from .pb import admin_pb2_grpc, collections_pb2_grpc, models_pb2_grpc, points_pb2_grpc, search_pb2_grpc

ERROR_CLASS_KEY = "vecdb-error-class"
# Calls that are safe to repeat when the server was unreachable or answered UNAVAILABLE: reads, and writes whose
# repetition leaves the same end state and gives the same answer (upsert of the same points, setting an alias or a
# model version, a seeded calibration). Not delete/drop/delete_alias/drop_query_map (a repeated call would answer
# "nothing deleted"), not compact or create, not streams.
IDEMPOTENT = {
    "vecdb.v1.Collections": ["Get", "Has", "List", "ListAliases", "Info", "SetAlias", "Calibrate"],
    "vecdb.v1.Points": ["Upsert", "Get", "Scroll", "Count"],
    "vecdb.v1.Search": ["Search"],
    "vecdb.v1.Admin": ["ServerInfo", "Stats"],
    "vecdb.v1.Drift": ["SetModelVersion", "ModelVersions"],
}


@dataclass(frozen=True)
class TLS:
    """TLS settings of a connection. root_certificates: PEM of the CA (or the self-signed certificate) to trust;
    None trusts the system roots. server_name: the name to verify when it differs from the host you dial."""

    root_certificates: bytes | None = None
    server_name: str | None = None


def service_config(attempts: int) -> str:
    if attempts <= 1:
        return json.dumps({"methodConfig": []})
    return json.dumps(
        {
            "methodConfig": [
                {
                    "name": [{"service": svc, "method": m} for svc, methods in IDEMPOTENT.items() for m in methods],
                    "retryPolicy": {
                        "maxAttempts": attempts,
                        "initialBackoff": "0.05s",
                        "maxBackoff": "1s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"],
                    },
                }
            ]
        }
    )


def make_channel(
    target: str, tls: bool | TLS, retries: int, max_receive_bytes: int, options: list | None, aio: bool = False
) -> grpc.Channel:
    opts = [
        ("grpc.enable_retries", 1 if retries > 1 else 0),
        ("grpc.service_config", service_config(retries)),
        ("grpc.max_receive_message_length", max_receive_bytes),
        ("grpc.max_send_message_length", -1),  # the server's limit is the one that counts
        *(options or []),
    ]
    mod = importlib.import_module("grpc.aio") if aio else grpc
    if tls:
        cfg = tls if isinstance(tls, TLS) else TLS()
        if cfg.server_name:
            opts.append(("grpc.ssl_target_name_override", cfg.server_name))
        creds = grpc.ssl_channel_credentials(root_certificates=cfg.root_certificates)
        return mod.secure_channel(target, creds, options=opts)
    return mod.insecure_channel(target, options=opts)


def rebuild_error(e: grpc.RpcError) -> VecDBError:
    """The vecdb exception a failed call stands for: the class the server named, else the one of the status code."""
    code = e.code() if hasattr(e, "code") else grpc.StatusCode.UNKNOWN
    details = (e.details() if hasattr(e, "details") else None) or str(e)
    meta = dict(e.trailing_metadata() or ()) if hasattr(e, "trailing_metadata") else {}
    name = meta.get(ERROR_CLASS_KEY)
    cls = error_for(name, code.name if code is not None else "UNKNOWN")
    if name is None and code == grpc.StatusCode.RESOURCE_EXHAUSTED and "message" in details.lower():
        return ResourceExhausted(
            f"{details}: the message exceeds the size limit (the server's --max-message-mb, or the client's "
            "max_receive_bytes); send fewer points or queries per call"
        )
    if name is None and code == grpc.StatusCode.UNAVAILABLE:
        details = f"server unavailable: {details}"
    return cls(details)


class _StubSet:
    def __init__(self, channel, token: str | None, timeout: float | None) -> None:
        from grpc_health.v1 import health_pb2_grpc

        self.channel = channel
        self.collections = collections_pb2_grpc.CollectionsStub(channel)
        self.points = points_pb2_grpc.PointsStub(channel)
        self.search = search_pb2_grpc.SearchStub(channel)
        self.admin = admin_pb2_grpc.AdminStub(channel)
        self.drift = models_pb2_grpc.DriftStub(channel)
        self.compression = models_pb2_grpc.CompressionStub(channel)
        self.health = health_pb2_grpc.HealthStub(channel)
        self.metadata = (("authorization", f"Bearer {token}"),) if token else None
        self.timeout = timeout

    def _method(self, service: str, method: str) -> Callable:
        return getattr(getattr(self, service), method)


class Stubs(_StubSet):
    """Blocking stubs of one channel; every call goes through here (deadline, auth metadata, error mapping)."""

    def invoke_raw(self, service: str, method: str, request: Any, timeout: float | None = None) -> Any:
        try:
            return self._method(service, method)(request, timeout=timeout or self.timeout, metadata=self.metadata)
        except grpc.RpcError as e:
            raise rebuild_error(e) from None

    def invoke(self, call) -> Any:
        return self.invoke_raw(call.service, call.method, call.request, call.timeout)

    def stream(self, service: str, method: str, request: Any, timeout: float | None = None) -> Iterator[Any]:
        try:
            yield from self._method(service, method)(request, timeout=timeout or self.timeout, metadata=self.metadata)
        except grpc.RpcError as e:
            raise rebuild_error(e) from None


class AsyncStubs(_StubSet):
    """The same over a grpc.aio channel."""

    async def invoke_raw(self, service: str, method: str, request: Any, timeout: float | None = None) -> Any:
        try:
            return await self._method(service, method)(request, timeout=timeout or self.timeout, metadata=self.metadata)
        except grpc.RpcError as e:
            raise rebuild_error(e) from None

    async def invoke(self, call) -> Any:
        return await self.invoke_raw(call.service, call.method, call.request, call.timeout)

    async def stream(self, service: str, method: str, request: Any, timeout: float | None = None):
        try:
            async for item in self._method(service, method)(
                request, timeout=timeout or self.timeout, metadata=self.metadata
            ):
                yield item
        except grpc.RpcError as e:
            raise rebuild_error(e) from None
