"""The one implementation of every remote operation, shared by the blocking and the asyncio clients.

Each operation is a generator: it validates and encodes locally, yields the gRPC `Call`s it needs, receives their
replies, and returns the decoded result. remote.py drives the generators with blocking calls, aio.py with awaits,
so both clients accept the same arguments, raise the same errors and return the same values by construction.

Inputs are checked locally only where the wire cannot carry them (a negative id, a ragged array, a float k, a token
set that is not a 2-D array); those checks use the engine's own validators and messages. Everything else is validated
by the engine on the server. When one call holds several errors, the local check may report a different one of them
than the engine would (single errors are reported identically).
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from vecdb import payload as payload_codec
from vecdb.drift import DriftMapSpec
from vecdb.drift.registry import check_version
from vecdb.errors import AlreadyExists, InvalidArgument
from vecdb.ids import MAX_ID, PointId, as_id_list, encode_id
from vecdb.multivector.field import MultiVectorField
from vecdb.results import Hits, Point, ScrollPage
from vecdb.schema import Binary, CollectionSchema, MultiVector, check_collection_name

from . import convert as C
from .pb import admin_pb2, collections_pb2, models_pb2, points_pb2, search_pb2, types_pb2

# A request estimated above (server limit - this) is sent as an atomic stream of parts (one transaction).
PART_HEADROOM = 64 << 10
# Keyword arguments of fit_query_map that are fit options, not map parameters (vecdb.drift.fit_map).
FIT_OPTIONS = frozenset({"holdout", "seed", "refit"})


@dataclass
class Call:
    """One RPC an operation needs: stub group ("collections", "points", "search", "admin", "health"), method name,
    request (a message, or an iterator of messages for client-streaming methods), and an optional deadline."""

    service: str
    method: str
    request: Any
    timeout: float | None = None


Op = Generator[Call, Any, Any]


def ids_to_pb(ids: object, out: types_pb2.PointIds, what: str = "ids") -> int:
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


class _GuardedRequests:
    """Iterates requests for a client stream and keeps (instead of raising into gRPC's sending thread, where it
    would only cancel the call) the first error raised while producing them."""

    def __init__(self, requests: Iterable) -> None:
        self._requests = requests
        self.error: BaseException | None = None

    def __iter__(self) -> Iterator:
        try:
            yield from self._requests
        except Exception as e:  # noqa: BLE001 - re-raised by the operation once the stream is closed
            self.error = e


# One field's vectors of an upsert, converted for the wire: a dense array, or token sets (multi-vector fields).
FieldData = tuple[str, "np.ndarray | list[np.ndarray]"]


def _point_bytes(fields: list[FieldData], payloads: list[bytes] | None, n: int) -> np.ndarray | None:
    """Estimated bytes of each point of an upsert in a message (vectors, payload, id and framing); None when the
    arrays do not pair one row per id (the request then goes whole: the server reports the mismatch)."""
    cost = np.full(n, 16.0)
    for _, data in fields:
        if isinstance(data, list):
            if len(data) != n:
                return None
            cost += [a.size * 4 + 8 for a in data]
        elif data.ndim == 2 and data.shape[0] == n:
            cost += data.shape[1] * data.itemsize
        else:
            return None
    if payloads is not None:
        cost += [len(p) + 4 for p in payloads]
    return cost


def _part_slices(cost: np.ndarray, limit: int) -> list[slice]:
    """Consecutive points cut into parts of at most about `limit` bytes (at least one point each), sized point by
    point so multi-vector documents of very different lengths still fit."""
    ends = np.cumsum(cost)
    out, start = [], 0
    while start < len(cost):
        base = ends[start - 1] if start else 0.0
        stop = max(int(np.searchsorted(ends, base + limit, side="right")), start + 1)
        out.append(slice(start, stop))
        start = stop
    return out


def _write_fields(fields: list[FieldData], out: Any, rows: slice | None = None) -> None:
    for name, data in fields:
        fv = out.add(field=name)
        if isinstance(data, list):
            C.to_pb_ragged(data if rows is None else data[rows], fv.ragged)
        else:
            C.to_pb_tensor(data if rows is None else data[rows], fv.dense)


def _float_matrix(x: object) -> np.ndarray | None:
    """x as a 2-D float32 array, or None when it is not one (the engine's validation then says why)."""
    if isinstance(x, np.ndarray) and x.dtype.kind not in "fiu":
        return None
    try:
        arr = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        return None
    return arr if arr.ndim == 2 else None


def binary_array(x: object, what: str) -> np.ndarray:
    """Bits for a Binary field, sent in a dtype that keeps them exact: uint8 / uint64 as given, booleans as uint8,
    other numbers as float64 (0/1 stay 0/1); the engine checks the width and values."""
    arr = np.asarray(x)
    if arr.dtype in (np.uint8, np.uint64):
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8)
    if arr.dtype.kind in "iuf":
        return arr.astype(np.float64)
    return C.as_array(x, what)


def token_sets(name: str, field: MultiVector, docs: object, n: int) -> list[np.ndarray]:
    """The token sets of a multi-vector field in an upsert as 2-D float32 arrays of one width, which a RaggedTensor
    carries. Input the wire cannot carry (not a list, a 1-D, ragged or non-numeric item, items of different widths)
    is rejected here by the engine's own validation, so both transports fail with the same message."""
    items = list(docs) if isinstance(docs, np.ndarray) and docs.ndim == 3 else docs
    if isinstance(items, (list, tuple)):
        mats = [_float_matrix(d) for d in items]
        if all(m is not None for m in mats) and len({m.shape[1] for m in mats}) <= 1:  # type: ignore[union-attr]
            return mats  # type: ignore[return-value]
    MultiVectorField(0, 0, name, field).prepare(docs, n)  # raises the engine's error for this input
    raise InvalidArgument(f"multi-vector field {name!r}: these token sets cannot be sent")  # pragma: no cover


def query_sets(name: str, field: MultiVector, queries: object) -> tuple[list[np.ndarray], bool]:
    """Multi-vector queries as token matrices for a RaggedTensor, and whether the call held a single one. A call
    that is neither one matrix nor a list of them goes out as an empty list (the engine rejects it); an item the
    wire cannot carry is rejected here by the engine's validation of the queries up to it, in the engine's order."""
    single = isinstance(queries, np.ndarray) and queries.ndim == 2
    qsets = [queries] if single else list(queries) if isinstance(queries, (list, tuple)) else []
    mats: list[np.ndarray] = []
    for i, q in enumerate(qsets):
        m = _float_matrix(q)
        if m is None or (mats and m.shape[1] != mats[0].shape[1]):
            mvf = MultiVectorField(0, 0, name, field)
            for earlier in qsets[: i + 1]:
                mvf.prepare_query(earlier)  # raises the engine's error for the first bad query
            raise InvalidArgument(f"query {i} for field {name!r} cannot be sent")  # pragma: no cover
        mats.append(m)
    return mats, single


def _put_int(req: Any, name: str, v: object) -> None:
    """An integer argument into a signed 64-bit field (a bad value in range reaches the engine's validation)."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not -(2**63) <= v < 2**63:
        floor = " >= 1" if name == "k" else ""  # the engine's words for k
        raise InvalidArgument(f"{name} must be an integer{floor}, got {v!r}")
    setattr(req, name, int(v))


def _pair_chunks(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None, limit: int) -> list[tuple]:
    """Rows of (src, dst, weights) in slices of about `limit` bytes. Arrays that do not pair row by row travel
    whole, so the engine sees them as given and reports the mismatch itself."""
    n = src.shape[0] if src.ndim == 2 else -1
    pairs_up = dst.ndim == 2 and dst.shape[0] == n and (weights is None or weights.shape == (n,))
    if not pairs_up or n == 0:
        return [(src, dst, weights)]
    row = src[0].nbytes + dst[0].nbytes + (8 if weights is not None else 0)
    step = max(1, limit // max(row, 1))
    return [
        (src[s : s + step], dst[s : s + step], None if weights is None else weights[s : s + step])
        for s in range(0, n, step)
    ]


def _float64(x: object, what: str) -> np.ndarray:
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"{what} must be numbers: {e}") from None


class CollectionOps:
    """State and operations of a collection handle (pinned to its incarnation, like an embedded handle)."""

    def __init__(self, database: DatabaseOps, info: collections_pb2.CollectionInfo) -> None:
        self._database = database
        self.name = info.name
        self.uid = info.uid
        self.schema: CollectionSchema = C.from_pb_schema(info.schema)
        self._ref = collections_pb2.CollectionRef(name=self.name, uid=self.uid)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.schema!r})"

    # ------------------------------------------------------------------ state
    def _count(self) -> Op:
        return (yield Call("points", "Count", self._ref)).count

    def _info(self) -> Op:
        return C.from_json((yield Call("collections", "Info", self._ref)).info_json)

    # ------------------------------------------------------------------ writes
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

    def _encode_vectors(self, vectors: object, n: int) -> list[FieldData]:
        # In schema order, as the engine prepares them: the first field that cannot be converted is the one the
        # engine would report.
        given = self._vector_fields(vectors)
        out: list[FieldData] = []
        for name, f in self.schema.vectors.items():
            if isinstance(f, MultiVector):
                out.append((name, token_sets(name, f, given[name], n)))
            elif isinstance(f, Binary):
                out.append((name, binary_array(given[name], f"vectors[{name!r}]")))
            else:
                out.append((name, C.as_array(given[name], f"vectors[{name!r}]")))
        return out

    def _encode_payloads(self, payloads: object, ids: object, n: int) -> list[bytes] | None:
        # The engine's own checks and encoding (vecdb.payload) with this handle's schema: a datetime or a numpy
        # scalar in a declared field becomes what the engine would store, and bad payloads fail alike.
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

    def _upsert_requests(
        self, ids: object, vectors: object, payloads: object, limit: int | None = None
    ) -> list[points_pb2.UpsertRequest]:
        """The messages of one upsert: one, or (above `limit` bytes) parts cut by points, written straight from
        the arrays (no message is built twice). No message at all for no ids."""
        head = points_pb2.UpsertRequest(collection=self._ref)
        n = ids_to_pb(ids, head.ids)
        if n == 0:
            return []
        fields = self._encode_vectors(vectors, n)
        pays = self._encode_payloads(payloads, ids, n)
        cost = _point_bytes(fields, pays, n) if limit is not None else None
        if cost is None or cost.sum() + head.ByteSize() <= limit:  # type: ignore[operator]
            _write_fields(fields, head.vectors)
            if pays is not None:
                head.payloads.extend(pays)
            return [head]
        all_ids = C.from_pb_ids(head.ids, as_array=True)
        parts = []
        for rows in _part_slices(cost, limit):  # type: ignore[arg-type]
            part = points_pb2.UpsertRequest(collection=self._ref)
            C.to_pb_ids(all_ids[rows], part.ids)
            _write_fields(fields, part.vectors, rows)
            if pays is not None:
                part.payloads.extend(pays[rows])
            parts.append(part)
        return parts

    def _upsert_request(self, ids: object, vectors: object, payloads: object) -> points_pb2.UpsertRequest | None:
        """The one message of an upsert, whatever its size (None for no ids)."""
        out = self._upsert_requests(ids, vectors, payloads)
        return out[0] if out else None

    def _upsert(self, ids: object, vectors: object, payloads: object = None) -> Op:
        parts = self._upsert_requests(ids, vectors, payloads, self._database.max_message_bytes - PART_HEADROOM)
        if not parts:
            return 0
        if len(parts) == 1:
            return (yield Call("points", "Upsert", parts[0])).upserted
        parts[0].atomic = True  # one logical upsert: committed together at the end of the stream
        return (yield Call("points", "UpsertStream", iter(parts))).upserted

    def _upsert_batches(self, batches: Iterable[tuple], timeout: float | None = None) -> Op:
        def requests() -> Iterator[points_pb2.UpsertRequest]:
            for batch in batches:
                ids, vectors, *rest = batch
                yield from self._upsert_requests(ids, vectors, rest[0] if rest else None)

        gen = requests()
        first = next(gen, None)  # local errors in the first batch are raised right here
        if first is None:
            return 0

        def chained() -> Iterator[points_pb2.UpsertRequest]:
            yield first
            yield from gen

        guarded = _GuardedRequests(chained())
        res = yield Call("points", "UpsertStream", iter(guarded), timeout)
        if guarded.error is not None:
            e = guarded.error
            raise type(e)(f"{e} ({res.upserted} points of earlier batches in this stream were committed)")
        return res.upserted

    @staticmethod
    def _batches(ids: object, vectors: object, payloads: object, batch_size: int) -> Iterator[tuple]:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgument(f"batch_size must be a positive integer, got {batch_size!r}")
        id_list = ids if isinstance(ids, np.ndarray) else as_id_list(ids)
        pay_list = list(payloads) if payloads is not None else None  # type: ignore[call-overload]

        def rows(v: object, s: slice) -> object:
            if isinstance(v, Mapping):
                return {k: rows(a, s) for k, a in v.items()}
            if isinstance(v, (list, tuple)):  # a list of rows, or of token sets (multi-vector fields)
                return v[s]
            return np.asarray(v)[s]

        for s in range(0, len(id_list), batch_size):
            sl = slice(s, s + batch_size)
            yield id_list[sl], rows(vectors, sl), (pay_list[sl] if pay_list is not None else None)

    def _delete(self, ids: object) -> Op:
        req = points_pb2.DeletePointsRequest(collection=self._ref)
        if ids_to_pb(ids, req.ids) == 0:
            return 0
        return (yield Call("points", "Delete", req)).deleted

    # ------------------------------------------------------------------ reads
    def _get(self, ids: object, with_payload: bool, with_vectors: bool) -> Op:
        req = points_pb2.GetPointsRequest(
            collection=self._ref, with_payload=bool(with_payload), with_vectors=bool(with_vectors)
        )
        ids_to_pb(ids, req.ids)
        return C.from_pb_points((yield Call("points", "Get", req)))

    def _scroll(self, limit: int, offset: PointId | None, with_payload: bool, with_vectors: bool) -> Op:
        if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or not -(2**63) <= limit < 2**63:
            raise InvalidArgument(f"limit must be an integer in [1, 100000], got {limit!r}")
        req = points_pb2.ScrollRequest(
            collection=self._ref, limit=int(limit), with_payload=bool(with_payload), with_vectors=bool(with_vectors)
        )
        if offset is not None:
            encode_id(offset)
            C.to_pb_id(int(offset) if isinstance(offset, np.integer) else offset, req.offset)
        res = yield Call("points", "Scroll", req)
        nxt = C.from_pb_id(res.next_offset) if res.HasField("next_offset") else None
        return ScrollPage(C.from_pb_points(res.points), nxt)

    def _search(
        self,
        field: str,
        queries: object,
        k: int,
        with_payload: bool,
        filter: object,  # noqa: A002 - the engine's keyword
        params: object,
        model_version: str | None,
        timeout: float | None,
    ) -> Op:
        if model_version is not None and not isinstance(model_version, str):
            check_version(model_version)  # the engine's error (it checks the version first)
        field = self._field_arg(field)
        req = search_pb2.SearchRequest(collection=self._ref, field=field, with_payload=bool(with_payload))
        if params is not None:  # checked before the queries, as the engine does
            C.to_pb_search_params(params, req.params)
        f = self.schema.vectors.get(field)
        if isinstance(f, MultiVector):
            mats, req.multi_single = query_sets(field, f, queries)
            C.to_pb_ragged(mats, req.multi)
        elif isinstance(f, Binary):
            C.to_pb_tensor(binary_array(queries, "query"), req.dense)
        else:
            C.to_pb_tensor(C.as_array(queries, "query"), req.dense)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise InvalidArgument(f"k must be an integer, got {k!r}")
        if not -(2**63) <= k < 2**63:
            raise InvalidArgument(f"k must be in [1, 10000], got {k}")
        req.k = int(k)
        if filter is not None:
            C.to_pb_filter(filter, req.filter)
        if model_version is not None:
            req.model_version = model_version
        res = yield Call("search", "Search", req, timeout)
        return C.from_pb_hits(res, bool(with_payload))

    def _field_arg(self, field: object) -> str:
        if not isinstance(field, str):
            self.schema.field(field)  # type: ignore[arg-type] # the engine's "unknown vector field" error
            raise InvalidArgument(f"vector field names are strings, got {field!r}")
        return field

    @staticmethod
    def _version_arg(version: object) -> str:
        return version if isinstance(version, str) else check_version(version)  # the engine's error

    # ------------------------------------------------------------------ maintenance
    def _compact(self) -> Op:
        return C.from_json((yield Call("collections", "Compact", self._ref)).json)

    def _build_index(self, field: str | None, chunk: int) -> Op:
        if field is not None and not isinstance(field, str):
            self.schema.field(field)  # the engine's "unknown vector field" error
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 0:
            raise InvalidArgument(f"chunk must be a positive integer, got {chunk!r}")
        req = collections_pb2.BuildIndexRequest(collection=self._ref, field=field or "", chunk=chunk)
        return C.from_json((yield Call("collections", "BuildIndex", req)).json)

    def _calibrate(
        self,
        field: str,
        k: int,
        recall_target: float | None,
        n_pseudo: int,
        pseudo_tokens: int,
        seed: int,
        timeout: float | None,
    ) -> Op:
        req = collections_pb2.CalibrateRequest(collection=self._ref, field=self._field_arg(field))
        for name, v in (("k", k), ("n_pseudo", n_pseudo), ("pseudo_tokens", pseudo_tokens), ("seed", seed)):
            _put_int(req, name, v)
        if recall_target is None:
            req.measure_only = True
        elif isinstance(recall_target, bool) or not isinstance(recall_target, (int, float, np.integer, np.floating)):
            raise InvalidArgument(f"recall_target must be in (0, 1], got {recall_target!r}")  # the engine's words
        else:
            req.recall_target = float(recall_target)
        return C.from_pb_calibration((yield Call("collections", "Calibrate", req, timeout)))

    # ------------------------------------------------------------------ compression
    def _train_compression(
        self, field: str, sample: int | None, seed: int, queries: object, timeout: float | None
    ) -> Op:
        req = models_pb2.TrainCompressionRequest(collection=self._ref, field=self._field_arg(field))
        if sample is not None:
            _put_int(req, "sample", sample)
        _put_int(req, "seed", seed)
        if queries is not None:
            q = _float_matrix(queries)
            if q is None:
                raise InvalidArgument("queries must be a numeric (n, dim) array")  # the engine's words
            C.to_pb_tensor(q, req.queries)
        return C.from_json((yield Call("compression", "TrainCompression", req, timeout)).json, "codec header")

    def _compression_report(
        self,
        field: str,
        codecs: list | None,
        sample: int,
        k: int,
        seed: int,
        recall_target: float,
        timeout: float | None,
    ) -> Op:
        from vecdb.compression import CompressionSpec, ReportRow, parse_spec

        req = models_pb2.CompressionReportRequest(collection=self._ref, field=self._field_arg(field))
        for c in codecs or ():
            spec = parse_spec(c) if isinstance(c, str) else c
            if not isinstance(spec, CompressionSpec):
                raise InvalidArgument(f"codecs must be CompressionSpecs or kind strings, got {c!r}")
            C.to_pb_compression_spec(spec.to_dict(), req.codecs.add())
        for name, v in (("sample", sample), ("k", k), ("seed", seed)):
            _put_int(req, name, v)
        if isinstance(recall_target, bool) or not isinstance(recall_target, (int, float, np.integer, np.floating)):
            raise InvalidArgument(f"recall_target must be a number in (0, 1], got {recall_target!r}")
        req.recall_target = float(recall_target)
        res = yield Call("compression", "CompressionReport", req, timeout)
        return [ReportRow(**C.from_pb_report_row(r)) for r in res.rows]

    # ------------------------------------------------------------------ model versions (query drift)
    def _set_model_version(self, field: str, version: str) -> Op:
        field = self._field_arg(field)
        req = models_pb2.SetModelVersionRequest(collection=self._ref, field=field, version=self._version_arg(version))
        yield Call("drift", "SetModelVersion", req)

    def _model_versions(self, field: str) -> Op:
        req = models_pb2.ModelVersionsRequest(collection=self._ref, field=self._field_arg(field))
        return C.from_pb_model_versions((yield Call("drift", "ModelVersions", req)))

    def _drop_query_map(self, field: str, version: str) -> Op:
        field = self._field_arg(field)
        req = models_pb2.DropQueryMapRequest(collection=self._ref, field=field, version=self._version_arg(version))
        return (yield Call("drift", "DropQueryMap", req)).dropped

    def _fit_query_map(
        self, field: str, version: str, new: object, old: object, kind: object, fit_args: dict, timeout: float | None
    ) -> Op:
        field, version = self._field_arg(field), self._version_arg(version)
        args = dict(fit_args)
        args.pop("progress", None)  # training runs on the server, which draws no progress bars
        val, weights = args.pop("val", None), args.pop("weights", None)
        if isinstance(kind, DriftMapSpec):
            if set(args) - FIT_OPTIONS:
                raise InvalidArgument("pass parameters either in the DriftMapSpec or as keyword arguments, not both")
            kind, args = kind.kind, {**args, **kind.params}
        elif not isinstance(kind, str):
            raise InvalidArgument(f"kind must be a map kind name or a DriftMapSpec, got {type(kind).__name__}")
        try:
            args_json = C.to_json(args) if args else b""
        except (TypeError, ValueError) as e:
            raise InvalidArgument(f"fit arguments cannot be sent as JSON: {e}") from None
        limit = self._database.max_message_bytes - PART_HEADROOM
        w = None if weights is None else _float64(weights, "weights")
        chunks = [("pairs", c) for c in _pair_chunks(C.as_array(new, "new"), C.as_array(old, "old"), w, limit)]
        if val is not None:
            if not isinstance(val, (list, tuple)) or len(val) != 2:
                raise InvalidArgument("val must be a pair (src, dst) of arrays")
            vs, vd = C.as_array(val[0], "val src"), C.as_array(val[1], "val dst")
            chunks += [("val", c) for c in _pair_chunks(vs, vd, None, limit)]

        def requests() -> Iterator[models_pb2.FitQueryMapRequest]:
            # Built one at a time as gRPC sends them, so the pairs are not held twice (arrays and messages).
            for i, (where, (src, dst, wts)) in enumerate(chunks):
                req = models_pb2.FitQueryMapRequest()
                if i == 0:
                    req.collection.CopyFrom(self._ref)
                    req.field, req.version, req.kind, req.args_json = field, version, kind, args_json
                C.to_pb_pair_rows(src, dst, wts, getattr(req, where))
                yield req

        res = yield Call("drift", "FitQueryMap", requests(), timeout)
        return C.from_json(res.json)


class DatabaseOps:
    """State and operations of a connection (the methods of vecdb.Database)."""

    collection_class: type = CollectionOps
    max_message_bytes: int = 4 << 20

    def _set_server_info(self, info: admin_pb2.ServerInfoResponse) -> None:
        self.read_only = info.read_only
        self.max_message_bytes = int(info.max_message_bytes)

    def _server_info(self) -> Op:
        i = yield Call("admin", "ServerInfo", admin_pb2.ServerInfoRequest())
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

    def _health(self, service: str, timeout: float | None) -> Op:
        from grpc_health.v1 import health_pb2

        res = yield Call("health", "Check", health_pb2.HealthCheckRequest(service=service), timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(res.status)

    def _create_collection(
        self, name: str, vectors: object, payload: object, schema: CollectionSchema | None, exist_ok: bool
    ) -> Op:
        check_collection_name(name)
        if schema is None:
            schema = CollectionSchema(vectors=vectors or {}, payload=payload or {})  # type: ignore[arg-type]
        elif vectors is not None or payload is not None:
            raise InvalidArgument("give either schema= or vectors=/payload=, not both")
        req = collections_pb2.CreateCollectionRequest(name=name, exist_ok=bool(exist_ok))
        C.to_pb_schema(schema, req.schema)
        return self.collection_class(self, (yield Call("collections", "Create", req)))

    def _get_collection(self, name: str) -> Op:
        check_collection_name(name)
        info = yield Call("collections", "Get", collections_pb2.GetCollectionRequest(name=name))
        return self.collection_class(self, info)

    def _has_collection(self, name: str) -> Op:
        check_collection_name(name)
        return (yield Call("collections", "Has", collections_pb2.HasCollectionRequest(name=name))).exists

    def _list_collections(self) -> Op:
        return list((yield Call("collections", "List", collections_pb2.ListCollectionsRequest())).names)

    def _drop_collection(self, name: str, missing_ok: bool) -> Op:
        check_collection_name(name)
        req = collections_pb2.DropCollectionRequest(name=name, missing_ok=bool(missing_ok))
        return (yield Call("collections", "Drop", req)).dropped

    def _set_alias(self, alias: str, collection: str) -> Op:
        check_collection_name(alias)
        check_collection_name(collection)
        yield Call("collections", "SetAlias", collections_pb2.SetAliasRequest(alias=alias, collection=collection))

    def _delete_alias(self, alias: str) -> Op:
        check_collection_name(alias)
        return (yield Call("collections", "DeleteAlias", collections_pb2.DeleteAliasRequest(alias=alias))).deleted

    def _list_aliases(self) -> Op:
        return dict((yield Call("collections", "ListAliases", collections_pb2.ListAliasesRequest())).aliases)

    def _backup(self, path: str | os.PathLike) -> Op:
        return C.from_json((yield Call("admin", "Backup", admin_pb2.BackupRequest(path=os.fspath(path)))).json)

    def _stats(self) -> Op:
        return C.from_json((yield Call("admin", "Stats", admin_pb2.StatsRequest())).json)


class SnapshotWriter:
    """Writes the chunks of Admin.Snapshot into <path>/data.mdb (via a .part file, fsync'd, then renamed)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        if os.path.exists(self.path) and os.listdir(self.path):
            raise AlreadyExists(f"snapshot target {self.path} is not empty")
        os.makedirs(self.path, exist_ok=True)
        self.target = os.path.join(self.path, "data.mdb")
        self.written = 0
        self._f = open(self.target + ".part", "wb")  # noqa: SIM115 - closed in finish/abort

    def write(self, chunk: admin_pb2.FileChunk) -> None:
        if chunk.name != "data.mdb" or chunk.offset != self.written:
            raise InvalidArgument(f"unexpected snapshot chunk {chunk.name!r} at offset {chunk.offset}")
        self._f.write(chunk.data)
        self.written += len(chunk.data)

    def finish(self) -> dict[str, Any]:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        os.replace(self.target + ".part", self.target)
        return {"path": self.path, "bytes": self.written}

    def abort(self) -> None:
        self._f.close()
        if os.path.exists(self.target + ".part"):
            os.remove(self.target + ".part")


__all__ = ["Call", "CollectionOps", "DatabaseOps", "Hits", "Point", "SnapshotWriter"]
