"""vecdb Python client SDK: the embedded API (vecdb.open) over gRPC.

    import vecdb_client
    db = vecdb_client.connect("localhost:50051")             # token="...", tls=True | vecdb_client.TLS(...)
    docs = db.create_collection("docs", vectors={"emb": vecdb.Dense(384, "cosine")})
    docs.upsert([1, 2], vectors, [{"lang": "en"}, None])
    hits = docs.search("emb", query, k=10)                   # vecdb.Hits, exactly as embedded
    # multi-vector fields: one (n_tokens, dim) array per point; model versions: docs.fit_query_map(...), then
    # docs.search("emb", new_model_query, model_version="m2") -- the embedded API throughout

Errors are the classes of vecdb.errors, rebuilt from the server's status. `await connect_async(...)` gives the same
API as coroutines (AsyncRemoteDatabase / AsyncRemoteCollection).
"""

from __future__ import annotations

from .aio import AsyncRemoteCollection, AsyncRemoteDatabase
from .channel import TLS
from .remote import RemoteCollection, RemoteDatabase

__all__ = [
    "TLS",
    "AsyncRemoteCollection",
    "AsyncRemoteDatabase",
    "RemoteCollection",
    "RemoteDatabase",
    "connect",
    "connect_async",
]

DEFAULT_MAX_RECEIVE_BYTES = 256 << 20


def connect(
    target: str = "127.0.0.1:50051",
    *,
    token: str | None = None,
    tls: bool | TLS = False,
    timeout: float | None = None,
    retries: int = 4,
    max_receive_bytes: int = DEFAULT_MAX_RECEIVE_BYTES,
    options: list[tuple[str, object]] | None = None,
) -> RemoteDatabase:
    """Connect to a vecdb server at "host:port" and check that it answers (raises vecdb.errors.Unavailable if not,
    Unauthenticated if the token is missing or wrong).

    token: sent as `authorization: Bearer <token>`; tls: True to use the system's roots, or TLS(root_certificates=
    PEM) for a private CA / self-signed certificate; timeout: default deadline of each call in seconds (None: no
    deadline); retries: attempts of idempotent calls when the server is unreachable (1 = no retries);
    max_receive_bytes: largest reply accepted; options: extra grpc channel options.
    """
    from .channel import Stubs, make_channel

    _check_retries(retries)
    channel = make_channel(target, tls, retries, max_receive_bytes, options)
    try:
        return RemoteDatabase(Stubs(channel, token, timeout), target)
    except BaseException:
        channel.close()
        raise


async def connect_async(
    target: str = "127.0.0.1:50051",
    *,
    token: str | None = None,
    tls: bool | TLS = False,
    timeout: float | None = None,
    retries: int = 4,
    max_receive_bytes: int = DEFAULT_MAX_RECEIVE_BYTES,
    options: list[tuple[str, object]] | None = None,
) -> AsyncRemoteDatabase:
    """connect() for asyncio: the same arguments, an AsyncRemoteDatabase whose methods are coroutines."""
    from .channel import AsyncStubs, make_channel
    from .pb import admin_pb2

    _check_retries(retries)
    channel = make_channel(target, tls, retries, max_receive_bytes, options, aio=True)
    try:
        stubs = AsyncStubs(channel, token, timeout)
        info = await stubs.invoke_raw("admin", "ServerInfo", admin_pb2.ServerInfoRequest())
        return AsyncRemoteDatabase(stubs, target, info)
    except BaseException:
        await channel.close()
        raise


def _check_retries(retries: object) -> None:
    if isinstance(retries, bool) or not isinstance(retries, int) or not 1 <= retries <= 5:
        from vecdb.errors import InvalidArgument

        raise InvalidArgument(f"retries must be an integer in [1, 5] (gRPC's limit), got {retries!r}")
