"""RemoteDatabase / RemoteCollection: the embedded API (vecdb.Database / vecdb.Collection) over gRPC.

Same methods, same arguments, same results (Hits, Point, ScrollPage with numpy arrays), same exception classes.
Inputs are checked locally only where the wire cannot carry them (a negative id, a ragged array, a float k); those
checks call the engine's own validators, so the messages match too. Everything else is validated by the engine on
the server. Remote-only extras: upsert_batches / bulk_upsert (streaming bulk load), snapshot (download a backup),
server_info, health.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from vecdb import payload as payload_codec
from vecdb.errors import InvalidArgument
from vecdb.ids import MAX_ID, PointId, as_id_list, encode_id
from vecdb.results import Hits, Point, ScrollPage
from vecdb.schema import CollectionSchema, check_collection_name

from . import convert as C
from .channel import Stubs
from .pb import admin_pb2, collections_pb2, points_pb2, search_pb2, types_pb2

# A request estimated above this is sent as an atomic stream of parts (one transaction on the server).
PART_HEADROOM = 64 << 10


def _ids_pb(ids: object, out: types_pb2.PointIds, what: str = "ids") -> int:
    """Validate ids as the engine does (same messages) and write them; returns their number."""
    if isinstance(ids, np.ndarray) and ids.ndim == 1 and ids.dtype.kind in "iu":
        if ids.dtype.kind == "u" or not ids.size or ids.min() >= 0:
            C.to_pb_ids(ids, out)
            return int(ids.shape[0])
    items = as_id_list(ids, what)
    if all(type(i) is int and 0 <= i <= MAX_ID for i in items):
        C.to_pb_ids(items, out)
    else:
        for i in items:
            encode_id(i)  # raises the engine's InvalidArgument for a bad id
            C.to_pb_id(int(i) if isinstance(i, np.integer) else i, out.ids.add())
    return len(items)


def _id_at(ids: object, j: int) -> PointId:
    x = ids[j] if isinstance(ids, np.ndarray) else list(ids)[j]  # type: ignore[index]
    return int(x) if isinstance(x, np.integer) else x


class RemoteCollection:
    """A handle to one collection on the server (pinned to its incarnation, like an embedded handle)."""

    def __init__(self, database: RemoteDatabase, info: collections_pb2.CollectionInfo) -> None:
        self._database = database
        self._stubs = database._stubs
        self.name = info.name
        self.uid = info.uid
        self.schema: CollectionSchema = C.from_pb_schema(info.schema)
        self._ref = collections_pb2.CollectionRef(name=self.name, uid=self.uid)

    def __repr__(self) -> str:
        return f"RemoteCollection({self.name!r}, {self.schema!r})"

    # ------------------------------------------------------------------ state
    def count(self) -> int:
        return self._stubs.call(self._stubs.points.Count, self._ref).count

    def info(self) -> dict[str, Any]:
        return C.from_json(self._stubs.call(self._stubs.collections.Info, self._ref).info_json)

    # ------------------------------------------------------------------ writes
    def _encode_payloads(self, payloads: object, ids: object, n: int) -> list[bytes] | None:
        # The engine's own checks and encoding (vecdb.payload), with the schema of this handle: a datetime or a
        # numpy scalar in a declared field becomes what the engine would store, and bad payloads fail alike.
        if payloads is None:
            return None
        if isinstance(payloads, Mapping) or not hasattr(payloads, "__len__"):
            raise InvalidArgument("payloads must be a list with one dict (or None) per id")
        if len(payloads) != n:  # type: ignore[arg-type]
            raise InvalidArgument(f"{len(payloads)} payloads for {n} ids")  # type: ignore[arg-type]
        out = []
        for j, p in enumerate(payloads):  # type: ignore[arg-type]
            where = f"point {_id_at(ids, j)!r}"
            doc = payload_codec.normalize(p, self.schema.payload, where)
            out.append(payload_codec.encode(doc, where) if doc else b"")
        return out

    def _vector_fields(self, vectors: object) -> Mapping[str, object]:
        # The engine's first checks of upsert vectors (Collection._prepare_vectors), made here because they come
        # before any array conversion: same order, same messages.
        fields = self.schema.vectors
        if not isinstance(vectors, Mapping):
            if len(fields) != 1:
                raise InvalidArgument(
                    f"this collection has vector fields {sorted(fields)}: pass vectors as a dict of field -> array"
                )
            return {next(iter(fields)): vectors}
        unknown = set(vectors) - set(fields)
        if unknown:
            raise InvalidArgument(f"unknown vector field(s) {sorted(unknown)}: this collection has {sorted(fields)}")
        missing = set(fields) - set(vectors)
        if missing:
            raise InvalidArgument(f"missing vectors for field(s) {sorted(missing)}: every point needs each field")
        return vectors

    def _upsert_request(self, ids: object, vectors: object, payloads: object) -> points_pb2.UpsertRequest | None:
        req = points_pb2.UpsertRequest(collection=self._ref)
        n = _ids_pb(ids, req.ids)
        if n == 0:
            return None
        C.to_pb_field_vectors(self._vector_fields(vectors), req.vectors)
        pays = self._encode_payloads(payloads, ids, n)
        if pays is not None:
            req.payloads.extend(pays)
        return req

    def upsert(self, ids: object, vectors: object, payloads: object = None) -> int:
        """Insert or replace points; one atomic, durable transaction on the server. Returns the number written.
        Requests larger than the server's message limit are streamed in parts and still committed as one."""
        req = self._upsert_request(ids, vectors, payloads)
        if req is None:
            return 0
        limit = self._database.max_message_bytes - PART_HEADROOM
        if req.ByteSize() <= limit:
            return self._stubs.call(self._stubs.points.Upsert, req).upserted
        parts = list(_split(req, limit))
        parts[0].atomic = True
        return self._stubs.call(self._stubs.points.UpsertStream, iter(parts)).upserted

    def upsert_batches(self, batches: Iterable[tuple], *, timeout: float | None = None) -> int:
        """Bulk load: each (ids, vectors[, payloads]) batch is committed in its own transaction as it arrives over
        ONE stream, without waiting for a round trip per batch. Returns the number of points written. On an error
        the batches before it stay committed (the error message says how many points that is)."""

        def requests():
            for batch in batches:
                ids, vectors, *rest = batch
                req = self._upsert_request(ids, vectors, rest[0] if rest else None)
                if req is not None:
                    yield req

        gen = requests()
        first = next(gen, None)
        if first is None:
            return 0

        def chained():
            yield first
            yield from gen

        return self._stubs.call(self._stubs.points.UpsertStream, chained(), timeout=timeout).upserted

    def bulk_upsert(self, ids: object, vectors: object, payloads: object = None, *, batch_size: int = 5000) -> int:
        """upsert_batches over slices of `batch_size` points (each slice its own transaction)."""
        id_list = ids if isinstance(ids, np.ndarray) else as_id_list(ids)
        n = len(id_list)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgument(f"batch_size must be a positive integer, got {batch_size!r}")

        def rows(v: object, s: slice) -> object:
            if isinstance(v, Mapping):
                return {k: np.asarray(a)[s] for k, a in v.items()}
            return np.asarray(v)[s]

        def batches():
            for s in range(0, n, batch_size):
                sl = slice(s, s + batch_size)
                yield id_list[sl], rows(vectors, sl), (list(payloads)[sl] if payloads is not None else None)

        return self.upsert_batches(batches())

    def delete(self, ids: object) -> int:
        """Delete points by id (unknown ids are ignored). Returns how many were deleted."""
        req = points_pb2.DeletePointsRequest(collection=self._ref)
        if _ids_pb(ids, req.ids) == 0:
            return 0
        return self._stubs.call(self._stubs.points.Delete, req).deleted

    # ------------------------------------------------------------------ reads
    def get(self, ids: object, *, with_payload: bool = True, with_vectors: bool = False) -> list[Point]:
        """The points with these ids that exist, in the order asked."""
        req = points_pb2.GetPointsRequest(
            collection=self._ref, with_payload=bool(with_payload), with_vectors=bool(with_vectors)
        )
        _ids_pb(ids, req.ids)
        return C.from_pb_points(self._stubs.call(self._stubs.points.Get, req))

    def scroll(
        self,
        limit: int = 100,
        offset: PointId | None = None,
        *,
        with_payload: bool = True,
        with_vectors: bool = False,
    ) -> ScrollPage:
        """One page of points in id order (integers first, then strings), starting at id `offset`."""
        if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or not -(2**63) <= limit < 2**63:
            raise InvalidArgument(f"limit must be an integer in [1, 100000], got {limit!r}")
        req = points_pb2.ScrollRequest(
            collection=self._ref, limit=int(limit), with_payload=bool(with_payload), with_vectors=bool(with_vectors)
        )
        if offset is not None:
            encode_id(offset)
            C.to_pb_id(int(offset) if isinstance(offset, np.integer) else offset, req.offset)
        res = self._stubs.call(self._stubs.points.Scroll, req)
        nxt = C.from_pb_id(res.next_offset) if res.HasField("next_offset") else None
        return ScrollPage(C.from_pb_points(res.points), nxt)

    # ------------------------------------------------------------------ search
    def search(
        self,
        field: str,
        queries: object,
        k: int = 10,
        *,
        with_payload: bool = True,
        filter: object = None,  # noqa: A002 - the engine's keyword
        params: object = None,
        model_version: str | None = None,
        timeout: float | None = None,
    ) -> Hits | list[Hits]:
        """The k nearest points to each query. A 1-D query gives one Hits; a matrix gives a list of Hits.
        filter / params / model_version are forwarded to engines that support them (see server_info().features)."""
        if not isinstance(field, str):
            self.schema.field(field)  # the engine's "unknown vector field" error
            raise InvalidArgument(f"vector field names are strings, got {field!r}")
        req = search_pb2.SearchRequest(collection=self._ref, field=field, with_payload=bool(with_payload))
        C.to_pb_tensor(C.as_array(queries, "query"), req.dense)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise InvalidArgument(f"k must be an integer, got {k!r}")
        if not -(2**63) <= k < 2**63:
            raise InvalidArgument(f"k must be in [1, 10000], got {k}")
        req.k = int(k)
        if filter is not None:
            C.to_pb_filter(filter, req.filter)
        if params is not None:
            C.to_pb_search_params(params, req.params)
        if model_version:
            req.model_version = model_version
        return C.from_pb_hits(self._stubs.call(self._stubs.search.Search, req, timeout), bool(with_payload))

    # ------------------------------------------------------------------ maintenance
    def compact(self, *, progress: bool | None = None) -> dict[str, int]:
        """Reclaim the rows of deleted and replaced points on the server (progress is shown there, not here)."""
        return C.from_json(self._stubs.call(self._stubs.collections.Compact, self._ref).json)

    def build_index(self, field: str) -> dict[str, Any]:
        req = collections_pb2.BuildIndexRequest(collection=self._ref, field=field)
        return C.from_json(self._stubs.call(self._stubs.collections.BuildIndex, req).json or b"{}")


def _split(req: points_pb2.UpsertRequest, limit: int) -> Iterable[points_pb2.UpsertRequest]:
    """An upsert request cut by rows into parts of about `limit` bytes each."""
    ids = C.from_pb_ids(req.ids, as_array=True)
    n = len(ids)
    per_row = max(1, req.ByteSize() // max(n, 1))
    step = max(1, limit // per_row)
    fields = [(fv.field, C.from_pb_tensor(fv.dense, "vectors")) for fv in req.vectors]
    for s in range(0, n, step):
        part = points_pb2.UpsertRequest(collection=req.collection)
        C.to_pb_ids(ids[s : s + step] if isinstance(ids, np.ndarray) else ids[s : s + step], part.ids)
        for name, arr in fields:
            C.to_pb_tensor(arr[s : s + step] if arr.ndim == 2 else arr, part.vectors.add(field=name).dense)
        if req.payloads:
            part.payloads.extend(req.payloads[s : s + step])
        yield part


class RemoteDatabase:
    """What vecdb_client.connect returns: the methods of vecdb.Database, on a server."""

    def __init__(self, stubs: Stubs, target: str) -> None:
        self._stubs = stubs
        self.target = target
        self._info = stubs.call(stubs.admin.ServerInfo, admin_pb2.ServerInfoRequest())
        self.read_only = self._info.read_only
        self.max_message_bytes = int(self._info.max_message_bytes)

    def __enter__(self) -> RemoteDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"vecdb_client.RemoteDatabase({self.target!r})"

    def close(self) -> None:
        self._stubs.channel.close()

    def server_info(self) -> dict[str, Any]:
        i = self._stubs.call(self._stubs.admin.ServerInfo, admin_pb2.ServerInfoRequest())
        return {
            "server_version": i.server_version,
            "engine_version": i.engine_version,
            "api_version": i.api_version,
            "max_message_bytes": i.max_message_bytes,
            "auth_required": i.auth_required,
            "read_only": i.read_only,
            "workers": i.workers,
            "features": list(i.features),
        }

    def health(self, service: str = "", timeout: float | None = 5.0) -> str:
        """The grpc.health.v1 status of the server (or one service): 'SERVING', 'NOT_SERVING', ..."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(self._stubs.channel)
        res = self._stubs.call(stub.Check, health_pb2.HealthCheckRequest(service=service), timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(res.status)

    # ------------------------------------------------------------------ catalog
    def create_collection(
        self,
        name: str,
        vectors: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
        *,
        schema: CollectionSchema | None = None,
        exist_ok: bool = False,
    ) -> RemoteCollection:
        check_collection_name(name)
        if schema is None:
            schema = CollectionSchema(vectors=vectors or {}, payload=payload or {})
        elif vectors is not None or payload is not None:
            raise InvalidArgument("give either schema= or vectors=/payload=, not both")
        req = collections_pb2.CreateCollectionRequest(name=name, exist_ok=bool(exist_ok))
        C.to_pb_schema(schema, req.schema)
        return RemoteCollection(self, self._stubs.call(self._stubs.collections.Create, req))

    def get_collection(self, name: str) -> RemoteCollection:
        """The collection called `name`, or the one the alias `name` points to."""
        check_collection_name(name)
        info = self._stubs.call(self._stubs.collections.Get, collections_pb2.GetCollectionRequest(name=name))
        return RemoteCollection(self, info)

    __getitem__ = get_collection

    def has_collection(self, name: str) -> bool:
        check_collection_name(name)
        req = collections_pb2.HasCollectionRequest(name=name)
        return self._stubs.call(self._stubs.collections.Has, req).exists

    def list_collections(self) -> list[str]:
        req = collections_pb2.ListCollectionsRequest()
        return list(self._stubs.call(self._stubs.collections.List, req).names)

    def drop_collection(self, name: str, *, missing_ok: bool = False) -> bool:
        check_collection_name(name)
        req = collections_pb2.DropCollectionRequest(name=name, missing_ok=bool(missing_ok))
        return self._stubs.call(self._stubs.collections.Drop, req).dropped

    # ------------------------------------------------------------------ aliases
    def set_alias(self, alias: str, collection: str) -> None:
        check_collection_name(alias)
        check_collection_name(collection)
        req = collections_pb2.SetAliasRequest(alias=alias, collection=collection)
        self._stubs.call(self._stubs.collections.SetAlias, req)

    def delete_alias(self, alias: str) -> bool:
        check_collection_name(alias)
        req = collections_pb2.DeleteAliasRequest(alias=alias)
        return self._stubs.call(self._stubs.collections.DeleteAlias, req).deleted

    def list_aliases(self) -> dict[str, str]:
        req = collections_pb2.ListAliasesRequest()
        return dict(self._stubs.call(self._stubs.collections.ListAliases, req).aliases)

    # ------------------------------------------------------------------ maintenance
    def backup(self, path: str | os.PathLike) -> dict[str, Any]:
        """Write a consistent copy of the database into the empty directory `path` ON THE SERVER (as the embedded
        call does on the machine holding the data). To copy it here instead, use snapshot(path)."""
        req = admin_pb2.BackupRequest(path=os.fspath(path))
        return C.from_json(self._stubs.call(self._stubs.admin.Backup, req).json)

    def snapshot(self, path: str | os.PathLike, *, timeout: float | None = None) -> dict[str, Any]:
        """Download a consistent, compacted snapshot of the database into the empty local directory `path`
        (`vecdb.open(path)` opens it)."""
        path = os.fspath(path)
        if os.path.exists(path) and os.listdir(path):
            from vecdb.errors import AlreadyExists

            raise AlreadyExists(f"snapshot target {path} is not empty")
        os.makedirs(path, exist_ok=True)
        target = os.path.join(path, "data.mdb")
        written = 0
        with open(target + ".part", "wb") as f:
            for chunk in self._stubs.stream(self._stubs.admin.Snapshot, admin_pb2.SnapshotRequest(), timeout):
                if chunk.name != "data.mdb" or chunk.offset != written:
                    raise InvalidArgument(f"unexpected snapshot chunk {chunk.name!r} at offset {chunk.offset}")
                f.write(chunk.data)
                written += len(chunk.data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(target + ".part", target)
        return {"path": path, "bytes": written}

    def stats(self) -> dict[str, Any]:
        return C.from_json(self._stubs.call(self._stubs.admin.Stats, admin_pb2.StatsRequest()).json)
