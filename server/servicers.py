"""The gRPC services: thin adapters from messages to the embedded engine API (vecdb.Database / Collection).

Every call decodes its request with vecdb_client.convert, calls the same engine method an embedded user calls, and
encodes the answer. Servicers raise exceptions; the ErrorInterceptor turns them into statuses. Nothing here
validates what the engine validates, so both transports fail with the same classes and messages.
"""

from __future__ import annotations

import errno
import inspect
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np

import vecdb
from vecdb.errors import (
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    StorageFull,
    Unimplemented,
)
from vecdb_client import convert as C
from vecdb_client.pb import (
    admin_pb2,
    admin_pb2_grpc,
    collections_pb2,
    collections_pb2_grpc,
    models_pb2,
    models_pb2_grpc,
    points_pb2,
    points_pb2_grpc,
    search_pb2,
    search_pb2_grpc,
)

from . import limits
from .config import ServerConfig

SERVER_VERSION = "0.1.0"
SNAPSHOT_CHUNK = 1 << 20
MIN_SNAPSHOT_CHUNK = 64 << 10
# Optional keyword arguments of Collection.search that this server forwards when the engine accepts them.
SEARCH_FEATURES = ("filter", "params", "model_version")
# Capabilities reported when the engine's Collection has the method that provides them.
METHOD_FEATURES = (
    ("build_index", "build_index"),
    ("calibrate", "calibrate"),
    ("model_versions", "fit_query_map"),
    ("compression", "train_compression"),
)
# Integer arguments of Collection.calibrate carried by CalibrateRequest (unset: the engine's defaults).
CALIBRATE_INTS = ("k", "n_pseudo", "pseudo_tokens", "seed")


def engine_features() -> list[str]:
    """Optional engine capabilities this server can forward (reported by Admin.ServerInfo)."""
    from vecdb.collection import Collection

    search = inspect.signature(Collection.search).parameters
    feats = [f for f in SEARCH_FEATURES if f in search]
    feats += [name for name, method in METHOD_FEATURES if hasattr(Collection, method)]
    if hasattr(vecdb, "MultiVector"):
        feats.append("multi_vector")
    return feats


class _Base:
    def __init__(self, db: vecdb.Database, config: ServerConfig) -> None:
        self.db = db
        self.config = config

    def col(self, ref: collections_pb2.CollectionRef):
        """The collection a request names; with a uid, only that incarnation (as an embedded handle behaves)."""
        try:
            col = self.db.get_collection(ref.name)
        except NotFound:
            if ref.uid:
                raise NotFound(f"collection {ref.name!r} does not exist (it was dropped)") from None
            raise
        if ref.uid and col.uid != ref.uid:
            raise NotFound(f"collection {ref.name!r} does not exist (it was dropped)")
        return col


def _info(col, with_report: bool = False) -> collections_pb2.CollectionInfo:
    m = collections_pb2.CollectionInfo(name=col.name, uid=col.uid)
    C.to_pb_schema(col.schema, m.schema)
    if with_report:
        m.info_json = C.to_json(col.info())
    return m


class CollectionsServicer(_Base, collections_pb2_grpc.CollectionsServicer):
    def Create(self, request, context):
        schema = C.from_pb_schema(request.schema)
        return _info(self.db.create_collection(request.name, schema=schema, exist_ok=request.exist_ok))

    def Get(self, request, context):
        return _info(self.db.get_collection(request.name))

    def Has(self, request, context):
        return collections_pb2.HasCollectionResponse(exists=self.db.has_collection(request.name))

    def List(self, request, context):
        return collections_pb2.ListCollectionsResponse(names=self.db.list_collections())

    def Drop(self, request, context):
        dropped = self.db.drop_collection(request.name, missing_ok=request.missing_ok)
        return collections_pb2.DropCollectionResponse(dropped=dropped)

    def SetAlias(self, request, context):
        self.db.set_alias(request.alias, request.collection)
        return collections_pb2.SetAliasResponse()

    def DeleteAlias(self, request, context):
        return collections_pb2.DeleteAliasResponse(deleted=bool(self.db.delete_alias(request.alias)))

    def ListAliases(self, request, context):
        return collections_pb2.ListAliasesResponse(aliases=self.db.list_aliases())

    def Info(self, request, context):
        return _info(self.col(request), with_report=True)

    def Compact(self, request, context):
        return collections_pb2.JsonReport(json=C.to_json(self.col(request).compact(progress=False)))

    def BuildIndex(self, request, context):
        col = self.col(request.collection)
        build = getattr(col, "build_index", None)
        if build is None:
            raise Unimplemented("this server's engine has no build_index yet")
        accepts = inspect.signature(build).parameters
        kwargs: dict[str, Any] = {"progress": False} if "progress" in accepts else {}
        if request.chunk and "chunk" in accepts:
            kwargs["chunk"] = int(request.chunk)
        return collections_pb2.JsonReport(json=C.to_json(build(request.field or None, **kwargs)))

    def Calibrate(self, request, context):
        col = self.col(request.collection)
        kwargs: dict[str, Any] = {n: getattr(request, n) for n in CALIBRATE_INTS if request.HasField(n)}
        if request.measure_only:
            if request.HasField("recall_target"):
                raise InvalidArgument("set either recall_target or measure_only, not both")
            kwargs["recall_target"] = None
        elif request.HasField("recall_target"):
            kwargs["recall_target"] = request.recall_target
        return C.to_pb_calibration(col.calibrate(request.field, **kwargs))


def _payloads(raw: Any) -> list | None:
    if not raw:
        return None
    return [C.from_pb_payload(p) for p in raw]


class PointsServicer(_Base, points_pb2_grpc.PointsServicer):
    def Upsert(self, request, context):
        limits.check_points(limits.point_count(request.ids), self.config)
        col = self.col(request.collection)
        ids = C.from_pb_ids(request.ids, as_array=True)
        n = col.upsert(ids, C.from_pb_field_vectors(request.vectors), _payloads(request.payloads))
        return points_pb2.UpsertResponse(upserted=n)

    def UpsertStream(self, request_iterator, context):
        it = iter(request_iterator)
        first = next(it, None)
        if first is None:
            return points_pb2.UpsertResponse(upserted=0)
        col = self.col(first.collection)
        if first.atomic:
            parts = limits.CountedParts(itertools.chain([first], it), self.config)
            return points_pb2.UpsertResponse(upserted=_upsert_atomic(col, iter(parts)))
        total = 0
        for request in itertools.chain([first], it):
            limits.check_points(limits.point_count(request.ids), self.config)
            left = context.time_remaining()
            if left is not None and left <= 0:
                raise DeadlineExceeded(f"deadline passed after {total} points were committed")
            ids = C.from_pb_ids(request.ids, as_array=True)
            try:
                total += col.upsert(ids, C.from_pb_field_vectors(request.vectors), _payloads(request.payloads))
            except vecdb.VecDBError as e:
                raise type(e)(f"{e} ({total} points of earlier batches in this stream were committed)") from None
        return points_pb2.UpsertResponse(upserted=total)

    def Get(self, request, context):
        limits.check_points(limits.point_count(request.ids), self.config, "ids in one request")
        col = self.col(request.collection)
        points = col.get(
            C.from_pb_ids(request.ids, as_array=True),
            with_payload=request.with_payload,
            with_vectors=request.with_vectors,
        )
        return C.to_pb_points(points, request.with_payload, request.with_vectors)

    def Delete(self, request, context):
        limits.check_points(limits.point_count(request.ids), self.config, "ids in one request")
        deleted = self.col(request.collection).delete(C.from_pb_ids(request.ids, as_array=True))
        return points_pb2.DeletePointsResponse(deleted=deleted)

    def Scroll(self, request, context):
        col = self.col(request.collection)
        offset = C.from_pb_id(request.offset) if request.HasField("offset") else None
        page = col.scroll(request.limit, offset, with_payload=request.with_payload, with_vectors=request.with_vectors)
        m = points_pb2.ScrollResponse()
        C.to_pb_points(page.points, request.with_payload, request.with_vectors, m.points)
        if page.next_offset is not None:
            C.to_pb_id(page.next_offset, m.next_offset)
        return m

    def Count(self, request, context):
        return points_pb2.CountResponse(count=self.col(request).count())


def _upsert_atomic(col, requests: Iterator[points_pb2.UpsertRequest]) -> int:
    """Parts of one logical upsert, concatenated and committed in one transaction."""
    ids: list = []
    parts: list = []
    payloads: list = []
    any_payload = False
    for request in requests:
        part_ids = C.from_pb_ids(request.ids, as_array=True)
        n = len(part_ids)
        ids.append(part_ids)
        parts.append(C.from_pb_field_vectors(request.vectors))
        pays = _payloads(request.payloads)
        any_payload |= pays is not None
        payloads.extend(pays if pays is not None else [None] * n)
    if all(isinstance(p, np.ndarray) for p in ids):
        all_ids: Any = np.concatenate(ids) if ids else []
    else:
        all_ids = [i for p in ids for i in (p.tolist() if isinstance(p, np.ndarray) else p)]
    try:
        if all(isinstance(p, dict) for p in parts):
            names = list(parts[0])
            if any(list(p) != names for p in parts):
                raise InvalidArgument("every part of an atomic upsert must carry the same vector fields")
            vectors: Any = {name: _concat([p[name] for p in parts]) for name in names}
        elif all(isinstance(p, np.ndarray) for p in parts):
            vectors = np.concatenate(parts)
        else:
            raise InvalidArgument("every part of an atomic upsert must give vectors in the same form")
    except ValueError as e:
        raise InvalidArgument(f"the parts of an atomic upsert do not fit together: {e}") from None
    return col.upsert(all_ids, vectors, payloads if any_payload else None)


def _concat(parts: list) -> Any:
    """One field's vectors from the parts of an atomic upsert: arrays are stacked, token-set lists joined."""
    if all(isinstance(p, list) for p in parts):
        return [item for p in parts for item in p]
    if any(isinstance(p, list) for p in parts):
        raise InvalidArgument("every part of an atomic upsert must give a field's vectors in the same form")
    return np.concatenate(parts)


class SearchServicer(_Base, search_pb2_grpc.SearchServicer):
    def __init__(self, db: vecdb.Database, config: ServerConfig) -> None:
        super().__init__(db, config)
        self.features = set(engine_features())

    def Search(self, request, context):
        limits.check_search(request, self.config)
        col = self.col(request.collection)
        which = request.WhichOneof("queries")
        if which is None:
            raise InvalidArgument("no queries given")
        if which == "multi":
            # A list of token matrices, or (multi_single) the one matrix an embedded caller passed bare.
            queries: Any = C.from_pb_ragged(request.multi, "query")
            if request.multi_single:
                if len(queries) != 1:
                    raise InvalidArgument(f"multi_single needs exactly one query, got {len(queries)}")
                queries = queries[0]
        else:
            # a writable copy (a few KB): the tensor is a read-only view of the request's bytes, and Numba compiles
            # its kernels once per array type, read-only arrays apart, so the single-query kernels would compile a
            # second time on a server's first search (seconds, on a fresh install: past a client's deadline)
            queries = np.array(C.from_pb_tensor(request.dense, "query"))
        kwargs: dict[str, Any] = {}
        if request.HasField("filter"):
            kwargs["filter"] = C.from_pb_filter(request.filter)
        if request.HasField("params"):
            kwargs["params"] = C.from_pb_search_params(request.params)
        if request.HasField("model_version"):
            kwargs["model_version"] = request.model_version
        missing = [k for k in kwargs if k not in self.features]
        if missing:
            raise Unimplemented(f"search with {', '.join(missing)}: this server's engine does not support it yet")
        hits = col.search(request.field, queries, request.k, with_payload=request.with_payload, **kwargs)
        return C.to_pb_hits(hits, request.with_payload)


class AdminServicer(_Base, admin_pb2_grpc.AdminServicer):
    def ServerInfo(self, request, context):
        return admin_pb2.ServerInfoResponse(
            server_version=SERVER_VERSION,
            engine_version=vecdb.__version__,
            api_version="v1",
            max_message_bytes=self.config.max_message_bytes,
            auth_required=self.config.token is not None,
            read_only=self.config.read_only,
            workers=self.config.workers,
            features=engine_features(),
        )

    def Stats(self, request, context):
        return collections_pb2.JsonReport(json=C.to_json(self.db.stats()))

    def Backup(self, request, context):
        target = limits.backup_target(request.path, self.config)
        try:
            report = self.db.backup(target)
        except OSError as e:  # the engine lets filesystem errors through; they are the caller's or the disk's
            raise os_error(e, f"backup to {request.path!r}") from None
        return collections_pb2.JsonReport(json=C.to_json(report))

    def Snapshot(self, request, context):
        # a tiny chunk would turn one snapshot into millions of messages, one larger than the message limit would
        # fail mid-stream: both are clamped
        chunk = request.chunk_bytes or SNAPSHOT_CHUNK
        limit = self.config.max_message_bytes
        chunk = min(max(chunk, MIN_SNAPSHOT_CHUNK), max(limit - 1024, limit // 2))
        try:
            tmp = tempfile.mkdtemp(prefix="vecdb-snapshot-")
        except OSError as e:
            raise os_error(e, "snapshot") from None
        try:
            target = os.path.join(tmp, "copy")
            self.db.backup(target)
            path = os.path.join(target, "data.mdb")
            total = os.path.getsize(path)
            with open(path, "rb") as f:
                offset = 0
                while True:
                    if not context.is_active():
                        return
                    data = f.read(chunk)
                    if not data:
                        break
                    yield admin_pb2.FileChunk(name="data.mdb", offset=offset, data=data, total_bytes=total)
                    offset += len(data)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def os_error(e: OSError, what: str) -> vecdb.VecDBError:
    """A filesystem error as the vecdb error a client can act on."""
    code = e.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return StorageFull(f"{what}: the disk is full ({e.strerror})")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return PermissionDenied(f"{what}: the server may not write there ({e.strerror})")
    if code in (errno.ENAMETOOLONG, errno.EINVAL, errno.ENOTDIR, errno.ELOOP, errno.EISDIR):
        return InvalidArgument(f"{what}: not a usable path ({e.strerror})")
    if code == errno.EEXIST:
        return AlreadyExists(f"{what}: the target exists ({e.strerror})")
    return FailedPrecondition(f"{what} failed: {e.strerror or e}")


def add_all(server: grpc.Server, db: vecdb.Database, config: ServerConfig) -> list[str]:
    """Register every vecdb service on `server`; returns their full names (for health and reflection)."""
    from .compression import CompressionServicer  # imports this module
    from .drift import DriftServicer  # imports this module

    collections_pb2_grpc.add_CollectionsServicer_to_server(CollectionsServicer(db, config), server)
    points_pb2_grpc.add_PointsServicer_to_server(PointsServicer(db, config), server)
    search_pb2_grpc.add_SearchServicer_to_server(SearchServicer(db, config), server)
    admin_pb2_grpc.add_AdminServicer_to_server(AdminServicer(db, config), server)
    models_pb2_grpc.add_DriftServicer_to_server(DriftServicer(db, config), server)
    models_pb2_grpc.add_CompressionServicer_to_server(CompressionServicer(db, config), server)
    return [
        collections_pb2.DESCRIPTOR.services_by_name["Collections"].full_name,
        points_pb2.DESCRIPTOR.services_by_name["Points"].full_name,
        search_pb2.DESCRIPTOR.services_by_name["Search"].full_name,
        admin_pb2.DESCRIPTOR.services_by_name["Admin"].full_name,
        models_pb2.DESCRIPTOR.services_by_name["Drift"].full_name,
        models_pb2.DESCRIPTOR.services_by_name["Compression"].full_name,
    ]
