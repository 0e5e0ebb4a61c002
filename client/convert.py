"""Every conversion between protobuf messages (vecdb_client.pb) and engine types, as to_pb_* / from_pb_* pairs.

The client and the server both use this module, so a value crosses the wire in exactly one way. Rules:
- arrays: raw little-endian bytes + shape (Tensor). from_pb_tensor returns a read-only zero-copy view of the message
  bytes; nothing is copied until the engine writes or normalises;
- ids: packed uint64 bytes when every id is an integer, else one PointId each;
- payloads and open-ended reports: compact UTF-8 JSON (exact integers, int vs float kept; see types.proto);
- multi-vector token sets: one RaggedTensor per field (flat [sum(n_tokens), dim] values + per-item lengths);
- schemas, parameters and filters: typed messages built from the engine's own dataclasses, so the engine validates
  what arrives exactly as it validates embedded calls;
- engine results with a fixed shape (calibration, model versions, compression report rows): typed messages, with
  JSON only for their open-ended parts (fit reports).
Malformed messages raise vecdb.errors.InvalidArgument with a message naming the problem.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vecdb import filters as F
from vecdb.errors import InvalidArgument
from vecdb.params import HNSWParams, SearchParams
from vecdb.payload import datetime_to_micros
from vecdb.results import Hits, Point
from vecdb.schema import CollectionSchema

from .pb import collections_pb2, models_pb2, points_pb2, search_pb2, types_pb2

_DTYPES = {
    types_pb2.FLOAT32: np.dtype("<f4"),
    types_pb2.UINT8: np.dtype("u1"),
    types_pb2.UINT64: np.dtype("<u8"),
    types_pb2.INT8: np.dtype("i1"),
    types_pb2.FLOAT16: np.dtype("<f2"),
    types_pb2.FLOAT64: np.dtype("<f8"),
}
_PB_DTYPE = {v.str.lstrip("<|"): k for k, v in _DTYPES.items()}
_INT64 = (-(2**63), 2**63 - 1)
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
MAX_TENSOR_DIMS = 8  # numpy allows 64; every tensor of the API has 1 or 2
MAX_TENSOR_EXTENT = 2**31 - 1  # per dimension


# ---------------------------------------------------------------------------------------------------- arrays
def as_array(x: object, what: str) -> np.ndarray:
    """User input -> float32 array of the SAME shape, raising the engine's own messages for the failures that can
    only be detected while converting (so remote and embedded calls fail alike; the server checks the rest)."""
    if isinstance(x, np.ndarray) and x.dtype.kind not in "fiu":
        raise InvalidArgument(f"{what} must hold numbers, got dtype {x.dtype}")
    try:
        return np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"{what} must be a numeric array: {e}") from None


def to_pb_tensor(arr: np.ndarray, out: types_pb2.Tensor | None = None) -> types_pb2.Tensor:
    arr = np.asarray(arr)
    code = _PB_DTYPE.get(arr.dtype.str.lstrip("<|="))
    if code is None:
        raise InvalidArgument(f"arrays of dtype {arr.dtype} cannot be sent; use float32, uint8, uint64 or int8")
    t = out if out is not None else types_pb2.Tensor()
    t.dtype = code
    t.shape[:] = arr.shape
    t.data = np.ascontiguousarray(arr, dtype=_DTYPES[code]).tobytes()
    return t


def from_pb_tensor(t: types_pb2.Tensor, what: str = "tensor") -> np.ndarray:
    dtype = _DTYPES.get(t.dtype)
    if dtype is None:
        raise InvalidArgument(f"{what}: dtype {t.dtype} is not set or unknown")
    if len(t.shape) > MAX_TENSOR_DIMS:
        raise InvalidArgument(f"{what}: {len(t.shape)} dimensions; at most {MAX_TENSOR_DIMS} are accepted")
    shape = tuple(int(s) for s in t.shape)
    n = math.prod(shape)  # Python integers: a hostile shape cannot overflow into a plausible size
    if n * dtype.itemsize != len(t.data):
        need = n * dtype.itemsize
        raise InvalidArgument(f"{what}: shape {shape} needs {need} bytes of {dtype.name}, got {len(t.data)}")
    if max(shape, default=0) > MAX_TENSOR_EXTENT:  # only an empty tensor gets here: numpy would refuse the shape
        raise InvalidArgument(f"{what}: shape {shape} has an extent over {MAX_TENSOR_EXTENT}")
    return np.frombuffer(t.data, dtype=dtype).reshape(shape)


def to_pb_ragged(items: Sequence[np.ndarray], out: types_pb2.RaggedTensor | None = None) -> types_pb2.RaggedTensor:
    """Token sets (2-D arrays of one width, any number of rows each) -> RaggedTensor (float32 values + lengths)."""
    m = out if out is not None else types_pb2.RaggedTensor()
    m.SetInParent()  # an empty batch stays visible (the server reports it with the engine's message)
    mats = [np.ascontiguousarray(a, dtype="<f4") for a in items]
    if any(a.ndim != 2 for a in mats) or len({a.shape[1] for a in mats}) > 1:
        shapes = sorted({a.shape for a in mats})
        raise InvalidArgument(f"token sets of one batch must be 2-D arrays of one width, got shapes {shapes}")
    lengths = [a.shape[0] for a in mats]
    m.values.dtype = types_pb2.FLOAT32
    m.values.shape[:] = [sum(lengths), mats[0].shape[1] if mats else 0]
    m.values.data = b"".join(a.data for a in mats)  # one copy, straight from the arrays into the message bytes
    m.lengths[:] = lengths
    return m


def from_pb_ragged(m: types_pb2.RaggedTensor, what: str = "token sets") -> list[np.ndarray]:
    """The items of a RaggedTensor: read-only [lengths[i], d] views of the message bytes."""
    values = from_pb_tensor(m.values, what)
    if values.ndim != 2:
        raise InvalidArgument(f"{what}: ragged values must be a [tokens, dim] matrix, got shape {values.shape}")
    ends = np.cumsum(np.asarray(m.lengths, dtype=np.int64))
    total = int(ends[-1]) if ends.size else 0
    if total != values.shape[0]:
        raise InvalidArgument(f"{what}: lengths add up to {total} rows, values hold {values.shape[0]}")
    starts = ends - np.asarray(m.lengths, dtype=np.int64)
    return [values[a:b] for a, b in zip(starts.tolist(), ends.tolist())]


def to_pb_field_vectors(vectors: object, out, multi: Sequence[str] = ()) -> None:
    """Vectors of an upsert (a dict field -> array, or a bare array) into a repeated FieldVectors. Fields named in
    `multi` hold token sets (a sequence of 2-D arrays, one per point) and go out as RaggedTensors."""
    if isinstance(vectors, Mapping):
        for name, arr in vectors.items():
            if not isinstance(name, str):
                raise InvalidArgument(f"vector field names must be strings, got {name!r}")
            if name in multi:
                to_pb_ragged(list(arr), out.add(field=name).ragged)  # type: ignore[call-overload]
            else:
                to_pb_tensor(as_array(arr, f"vectors[{name!r}]"), out.add(field=name).dense)
    else:
        to_pb_tensor(as_array(vectors, "vectors"), out.add(field="").dense)


def from_pb_field_vectors(items: Sequence[points_pb2.FieldVectors]) -> object:
    """The inverse: a dict field -> array (list of token-set arrays for a ragged entry), or the bare array when the
    only entry has an empty field name."""
    if len(items) == 1 and not items[0].field:
        return _field_array(items[0], "vectors")
    out = {}
    for fv in items:
        if not fv.field:
            raise InvalidArgument("a bare vector array (empty field name) must be the only vectors entry")
        out[fv.field] = _field_array(fv, f"vectors[{fv.field!r}]")
    return out


def _field_array(fv: points_pb2.FieldVectors, what: str) -> np.ndarray | list[np.ndarray]:
    kind = fv.WhichOneof("data")
    if kind == "dense":
        return from_pb_tensor(fv.dense, what)
    if kind == "ragged":
        return from_pb_ragged(fv.ragged, what)
    raise InvalidArgument(f"{what}: no vectors set (dense or ragged)")


# ---------------------------------------------------------------------------------------------------- ids
def to_pb_id(pid: object, out: types_pb2.PointId | None = None) -> types_pb2.PointId:
    m = out if out is not None else types_pb2.PointId()
    if isinstance(pid, str):
        m.str = pid
    elif isinstance(pid, (int, np.integer)) and not isinstance(pid, (bool, np.bool_)) and 0 <= int(pid) < 2**64:
        m.num = int(pid)
    else:
        raise InvalidArgument(f"bad id {pid!r}: ids are unsigned 64-bit integers or strings")
    return m


def from_pb_id(m: types_pb2.PointId) -> int | str:
    kind = m.WhichOneof("kind")
    if kind is None:
        raise InvalidArgument("a point id has neither num nor str set")
    return m.num if kind == "num" else m.str


def to_pb_ids(ids: Sequence | np.ndarray, out: types_pb2.PointIds | None = None) -> types_pb2.PointIds:
    """ids: validated ids (python ints / strings, or an unsigned integer array)."""
    m = out if out is not None else types_pb2.PointIds()
    if isinstance(ids, np.ndarray) and ids.dtype.kind in "iu":
        m.uint64_le = ids.astype("<u8", copy=False).tobytes()
    elif all(type(i) is int for i in ids):
        m.uint64_le = np.array(ids, dtype="<u8").tobytes() if len(ids) else b""
    else:
        for i in ids:
            to_pb_id(i, m.ids.add())
    return m


def from_pb_ids(m: types_pb2.PointIds, *, as_array: bool = False) -> list | np.ndarray:
    """A list of python ints/strings, or (as_array, integer fast path only) a read-only uint64 array."""
    if m.uint64_le:
        if m.ids:
            raise InvalidArgument("point ids: set either uint64_le or ids, not both")
        if len(m.uint64_le) % 8:
            raise InvalidArgument(f"point ids: uint64_le holds {len(m.uint64_le)} bytes, not a multiple of 8")
        arr = np.frombuffer(m.uint64_le, dtype="<u8")
        return arr if as_array else arr.tolist()
    return [from_pb_id(x) for x in m.ids]


# ---------------------------------------------------------------------------------------------------- JSON
def to_json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default).encode()


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def from_json(raw: bytes, what: str = "JSON") -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"{what} is not valid UTF-8 JSON: {e}") from None
    except RecursionError:  # json's C decoder guards its recursion: a hostile document nests thousands deep
        raise InvalidArgument(f"{what} nests too deeply to be read") from None


def to_pb_payload(payload: Mapping[str, Any] | None) -> bytes:
    return to_json(payload) if payload else b""


def from_pb_payload(raw: bytes, empty: Any = None) -> dict | None:
    """A payload document; `empty` is what empty bytes mean (None in upserts, {} in reads)."""
    if not raw:
        return empty() if callable(empty) else empty
    doc = from_json(raw, "payload")
    if not isinstance(doc, dict):
        raise InvalidArgument(f"payload must be a JSON object, got {type(doc).__name__}")
    return doc


# ---------------------------------------------------------------------------------------------------- schema
def to_pb_hnsw(p: HNSWParams, out: types_pb2.HNSWParams | None = None) -> types_pb2.HNSWParams:
    m = out if out is not None else types_pb2.HNSWParams()
    m.m, m.ef_construction, m.index_threshold, m.seed = p.m, p.ef_construction, p.index_threshold, p.seed
    if p.ef_search is not None:
        m.ef_search = p.ef_search
    return m


def from_pb_hnsw(m: types_pb2.HNSWParams) -> HNSWParams:
    return HNSWParams(
        m=m.m,
        ef_construction=m.ef_construction,
        ef_search=m.ef_search if m.HasField("ef_search") else None,
        index_threshold=m.index_threshold,
        seed=m.seed,
    )


def _index_to_pb(d: Mapping[str, Any], out: types_pb2.IndexParams) -> None:
    kind = d.get("kind", "hnsw")
    if kind != "hnsw":
        raise InvalidArgument(f"index kind {kind!r} has no wire form")
    to_pb_hnsw(HNSWParams.from_dict(d), out.hnsw)


_DEFAULT_INDEX = object()  # IndexParams absent: leave the engine's default


def _index_from_pb(m: types_pb2.IndexParams) -> Any:
    kind = m.WhichOneof("kind")
    if kind == "hnsw":
        return from_pb_hnsw(m.hnsw).to_dict()
    if kind == "none":
        return None
    return _DEFAULT_INDEX


def _spec_to_pb(d: Mapping[str, Any], out) -> None:
    out.kind = str(d.get("kind", ""))
    rest = {k: v for k, v in d.items() if k != "kind"}
    out.params_json = to_json(rest) if rest else b""


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    doc = from_json(raw, what) if raw else {}
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{what} must be a JSON object, got {type(doc).__name__}")
    return doc


def _spec_from_pb(m) -> dict[str, Any]:
    return {"kind": m.kind, **_json_object(m.params_json, f"{m.kind} parameters")}


def _put(out: Any, name: str, value: Any, what: str) -> None:
    """Set a scalar field; a value its type cannot hold (a seed above 2**64, a string for a number) is an
    InvalidArgument naming it, not a protobuf error."""
    try:
        setattr(out, name, value)
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"{what}: {name}={value!r} cannot be sent ({e})") from None


def _index_to_field(d: dict[str, Any], out: types_pb2.IndexParams) -> None:
    """The "index" entry of a field dict (absent: the engine's default; None: explicitly no index)."""
    if "index" in d:
        index = d.pop("index")
        if index is None:
            out.none.SetInParent()
        else:
            _index_to_pb(index, out)


_TOKEN_COMPRESSION = ("nbits", "n_centroids", "train_tokens", "kmeans_iters", "seed")
_FDE_SCALARS = ("k_sim", "reps", "fill_empty", "seed")


def to_pb_token_compression(d: Mapping[str, Any], out: types_pb2.TokenCompression | None = None):
    """A vecdb.multivector.TokenCompression dict (to_dict(), or a part of one) -> TokenCompression."""
    m = out if out is not None else types_pb2.TokenCompression()
    d = dict(d)
    m.SetInParent()
    _put(m, "kind", d.pop("kind", "none"), "token compression")
    for name in _TOKEN_COMPRESSION:
        if name in d:
            _put(m, name, d.pop(name), "token compression")
    if d:
        raise InvalidArgument(f"token compression entries {sorted(d)} have no wire form")
    return m


def from_pb_token_compression(m: types_pb2.TokenCompression) -> dict[str, Any]:
    return {"kind": m.kind or "none", **{n: getattr(m, n) for n in _TOKEN_COMPRESSION if m.HasField(n)}}


def to_pb_fde(d: Mapping[str, Any], out: types_pb2.FDEParams | None = None) -> types_pb2.FDEParams:
    """A vecdb.multivector.FDEParams dict (to_dict(), or a part of one) -> FDEParams."""
    m = out if out is not None else types_pb2.FDEParams()
    d = dict(d)
    m.SetInParent()
    if "d_proj" in d:
        v = d.pop("d_proj")
        if v is None:
            m.no_d_proj = True
        else:
            _put(m, "d_proj", v, "FDE")
    if d.get("final_dim", 0) is None:
        d.pop("final_dim")  # None is the default: no final projection
    for name in (*_FDE_SCALARS, "final_dim", "projection"):
        if name in d:
            _put(m, name, d.pop(name), "FDE")
    if d:
        raise InvalidArgument(f"FDE entries {sorted(d)} have no wire form")
    return m


def from_pb_fde(m: types_pb2.FDEParams) -> dict[str, Any]:
    d: dict[str, Any] = {n: getattr(m, n) for n in ("k_sim", "reps") if m.HasField(n)}
    if m.no_d_proj:
        if m.HasField("d_proj"):
            raise InvalidArgument("FDE parameters: set either d_proj or no_d_proj, not both")
        d["d_proj"] = None
    elif m.HasField("d_proj"):
        d["d_proj"] = m.d_proj
    for name in ("final_dim", "fill_empty", "seed"):
        if m.HasField(name):
            d[name] = getattr(m, name)
    if m.projection:
        d["projection"] = m.projection
    return d


def to_pb_vector_field(d: Mapping[str, Any], out: types_pb2.VectorField) -> None:
    """A vector field in its to_dict() form -> VectorField."""
    d = dict(d)
    kind = d.pop("kind", "dense")
    compression = d.pop("compression", None)
    if kind == "dense":
        out.dense.dim, out.dense.metric = int(d.pop("dim")), str(d.pop("metric", "cosine"))
        _index_to_field(d, out.dense.index)
        if compression is not None:
            _spec_to_pb(compression, out.compression)
    elif kind == "multi_vector":
        mv = out.multi_vector
        mv.dim, mv.metric = int(d.pop("dim")), str(d.pop("metric", "maxsim"))
        if "normalize" in d:
            _put(mv, "normalize", d.pop("normalize"), "multi-vector field")
        if isinstance(compression, str):  # the token compression: a TokenCompression dict or a kind name
            compression = {"kind": compression}
        if compression is not None:
            to_pb_token_compression(compression, mv.compression)
        if d.get("fde") is not None:
            to_pb_fde(d.pop("fde"), mv.fde)
        d.pop("fde", None)
        _index_to_field(d, mv.index)
    elif kind == "binary":
        out.binary.bits, out.binary.metric = int(d.pop("bits")), str(d.pop("metric", "hamming"))
        if compression is not None:
            _spec_to_pb(compression, out.compression)
    else:
        raise InvalidArgument(f"vector field kind {kind!r} has no wire form")
    if d:
        raise InvalidArgument(f"{kind} field entries {sorted(d)} have no wire form")


def _index_from_field(m: types_pb2.IndexParams, present: bool, d: dict[str, Any]) -> None:
    if present:
        index = _index_from_pb(m)
        if index is not _DEFAULT_INDEX:
            d["index"] = index


def from_pb_vector_field(m: types_pb2.VectorField) -> dict[str, Any]:
    kind = m.WhichOneof("kind")
    if kind == "dense":
        d: dict[str, Any] = {"kind": "dense", "dim": m.dense.dim, "metric": m.dense.metric}
        _index_from_field(m.dense.index, m.dense.HasField("index"), d)
    elif kind == "multi_vector":
        mv = m.multi_vector
        if m.HasField("compression"):
            raise InvalidArgument(
                "a multi-vector field takes its token compression in MultiVectorField.compression, "
                "not VectorField.compression"
            )
        d = {"kind": "multi_vector", "dim": mv.dim, "metric": mv.metric or "maxsim"}
        if mv.HasField("normalize"):
            d["normalize"] = mv.normalize
        if mv.HasField("compression"):
            d["compression"] = from_pb_token_compression(mv.compression)
        if mv.HasField("fde"):
            d["fde"] = from_pb_fde(mv.fde)
        _index_from_field(mv.index, mv.HasField("index"), d)
        return d
    elif kind == "binary":
        d = {"kind": "binary", "bits": m.binary.bits, "metric": m.binary.metric}
    else:
        raise InvalidArgument("a vector field has no kind (dense, multi_vector or binary)")
    if m.HasField("compression"):
        d["compression"] = _spec_from_pb(m.compression)
    return d


def to_pb_schema(schema: CollectionSchema, out: types_pb2.CollectionSchema | None = None) -> types_pb2.CollectionSchema:
    m = out if out is not None else types_pb2.CollectionSchema()
    d = schema.to_dict()
    for name, f in d["vectors"].items():
        to_pb_vector_field(f, m.vectors.add(name=name).field)
    for name, t in d["payload"].items():
        m.payload.add(name=name, type=t)
    return m


def from_pb_schema(m: types_pb2.CollectionSchema) -> CollectionSchema:
    vectors = {}
    for nf in m.vectors:
        if nf.name in vectors:
            raise InvalidArgument(f"vector field {nf.name!r} is declared twice")
        vectors[nf.name] = from_pb_vector_field(nf.field)
    payload = {}
    for pf in m.payload:
        if pf.name in payload:
            raise InvalidArgument(f"payload field {pf.name!r} is declared twice")
        payload[pf.name] = pf.type
    return CollectionSchema.from_dict({"vectors": vectors, "payload": payload})


# ---------------------------------------------------------------------------------------------------- search
_OPTIONAL_PARAMS = ("ef", "candidates", "recall_target", "reduce_tau", "oversample")


def to_pb_search_params(p: SearchParams, out: types_pb2.SearchParams | None = None) -> types_pb2.SearchParams:
    if not isinstance(p, SearchParams):
        raise InvalidArgument(f"params must be SearchParams(...), got {type(p).__name__}")  # the engine's words
    m = out if out is not None else types_pb2.SearchParams()
    m.SetInParent()
    for name in _OPTIONAL_PARAMS:
        v = getattr(p, name)
        if v is not None:
            setattr(m, name, v)
    m.exact = p.exact
    m.use_codes = p.use_codes
    if not p.rescore:  # unset means the default, True
        m.rescore = False
    return m


def from_pb_search_params(m: types_pb2.SearchParams) -> SearchParams:
    kwargs = {n: getattr(m, n) for n in _OPTIONAL_PARAMS if m.HasField(n)}
    if m.HasField("rescore"):
        kwargs["rescore"] = m.rescore
    return SearchParams(exact=m.exact, use_codes=m.use_codes, **kwargs)


def to_pb_value(v: Any, out: types_pb2.Value | None = None) -> types_pb2.Value:
    m = out if out is not None else types_pb2.Value()
    if v is None:
        return m
    if isinstance(v, (bool, np.bool_)):
        m.bool_value = bool(v)
    elif isinstance(v, (int, np.integer)):
        v = int(v)
        if _INT64[0] <= v <= _INT64[1]:
            m.int_value = v
        else:
            m.big_int = str(v)
    elif isinstance(v, (float, np.floating)):
        m.float_value = float(v)
    elif isinstance(v, str):
        m.string_value = v
    elif isinstance(v, _dt.datetime):
        m.datetime_micros = datetime_to_micros(v)
    else:
        try:
            m.json = to_json(v)
        except (TypeError, ValueError):
            raise InvalidArgument(f"filter value {v!r} ({type(v).__name__}) has the wrong type") from None
    return m


def from_pb_value(m: types_pb2.Value) -> Any:
    kind = m.WhichOneof("kind")
    if kind is None:
        return None
    if kind == "datetime_micros":
        try:
            return _EPOCH + _dt.timedelta(microseconds=m.datetime_micros)
        except OverflowError:
            raise InvalidArgument(
                f"filter value datetime_micros={m.datetime_micros} is outside the datetime range (years 1-9999)"
            ) from None
    if kind == "big_int":
        try:
            return int(m.big_int)
        except ValueError:
            raise InvalidArgument(f"filter value big_int={m.big_int!r} is not a decimal integer") from None
    if kind == "json":
        return from_json(m.json, "filter value")
    return getattr(m, kind)


_VALUE_NODES = {F.Eq: "eq", F.Ne: "ne"}
_VALUES_NODES = {F.In: "is_in", F.NotIn: "not_in", F.ContainsAny: "contains_any", F.ContainsAll: "contains_all"}
_LIST_NODES = {F.And: "all_of", F.Or: "any_of"}
_BOUNDS = ("gt", "gte", "lt", "lte")


def _field_name(f: Any) -> str:
    if not isinstance(f.field, str):
        raise InvalidArgument(f"filter field must be a string, got {f.field!r}")
    return f.field


def to_pb_filter(f: object, out: types_pb2.Filter | None = None, depth: int = 0) -> types_pb2.Filter:
    """A vecdb.filters expression -> Filter message (structure only: the server validates it against the schema)."""
    if depth > F.MAX_DEPTH:
        raise InvalidArgument(f"filter nested deeper than {F.MAX_DEPTH} levels")
    if not isinstance(f, F.Filter):
        raise InvalidArgument(f"expected a filter, got {type(f).__name__}: {f!r}")
    m = out if out is not None else types_pb2.Filter()
    t = type(f)
    if t in _LIST_NODES:
        sub = getattr(m, _LIST_NODES[t])
        sub.SetInParent()  # an empty list stays visible, so the server reports it
        if not isinstance(f.filters, tuple):
            raise InvalidArgument(f"'{'and' if t is F.And else 'or'}' needs at least one filter")
        for x in f.filters:
            to_pb_filter(x, sub.filters.add(), depth + 1)
    elif t is F.Not:
        to_pb_filter(f.filter, m.not_filter, depth + 1)
    elif t in _VALUE_NODES:
        node = getattr(m, _VALUE_NODES[t])
        node.field = _field_name(f)
        to_pb_value(f.value, node.value)
    elif t in _VALUES_NODES:
        node = getattr(m, _VALUES_NODES[t])
        node.field = _field_name(f)
        if not isinstance(f.values, (tuple, list)):
            raise InvalidArgument(f"{t.__name__.lower()} on {f.field!r} takes a list of values")
        for v in f.values:
            to_pb_value(v, node.values.add())
    elif t is F.Range:
        m.range.field = _field_name(f)
        for b in _BOUNDS:
            v = getattr(f, b)
            if v is not None:
                to_pb_value(v, getattr(m.range, b))
    elif t is F.Exists:
        m.exists.field = _field_name(f)
    else:
        raise InvalidArgument(f"filter node {t.__name__} has no wire form")
    return m


def from_pb_filter(m: types_pb2.Filter, depth: int = 0) -> F.Filter:
    if depth > F.MAX_DEPTH:
        raise InvalidArgument(f"filter nested deeper than {F.MAX_DEPTH} levels")
    node = m.WhichOneof("node")
    if node is None:
        raise InvalidArgument("a filter node has no operator set")
    sub = getattr(m, node)
    if node in ("all_of", "any_of"):
        cls = F.And if node == "all_of" else F.Or
        return cls(tuple(from_pb_filter(x, depth + 1) for x in sub.filters))
    if node == "not_filter":
        return F.Not(from_pb_filter(sub, depth + 1))
    if node == "exists":
        return F.Exists(sub.field)
    if node == "range":
        return F.Range(sub.field, **{b: from_pb_value(getattr(sub, b)) for b in _BOUNDS if sub.HasField(b)})
    for cls, name in _VALUE_NODES.items():
        if name == node:
            return cls(sub.field, from_pb_value(sub.value))
    for cls, name in _VALUES_NODES.items():
        if name == node:
            return cls(sub.field, tuple(from_pb_value(v) for v in sub.values))
    raise InvalidArgument(f"unknown filter operator {node!r}")  # pragma: no cover


# ---------------------------------------------------------------------------------------------------- results
def to_pb_points(
    points: Sequence[Point], with_payload: bool, with_vectors: bool, out: points_pb2.PointsResponse | None = None
) -> points_pb2.PointsResponse:
    m = out if out is not None else points_pb2.PointsResponse()
    to_pb_ids([p.id for p in points], m.ids)
    m.with_payload, m.with_vectors = bool(with_payload), bool(with_vectors)
    if with_payload:
        m.payloads.extend(to_pb_payload(p.payload) for p in points)
    if with_vectors and points:
        for name, first in points[0].vectors.items():
            rows = [p.vectors[name] for p in points]
            if np.ndim(first) == 2:  # a multi-vector field: one token matrix per point
                to_pb_ragged(rows, m.vectors.add(field=name).ragged)
            else:
                to_pb_tensor(np.stack(rows), m.vectors.add(field=name).dense)
    return m


def from_pb_points(m: points_pb2.PointsResponse) -> list[Point]:
    ids = from_pb_ids(m.ids)
    pays = [from_pb_payload(raw, dict) for raw in m.payloads] if m.with_payload else [None] * len(ids)
    if len(pays) != len(ids):
        raise InvalidArgument(f"{len(pays)} payloads for {len(ids)} points")
    vecs = {fv.field: _field_array(fv, f"vectors[{fv.field!r}]") for fv in m.vectors if fv.field}
    for name, arr in vecs.items():
        if isinstance(arr, list):
            if len(arr) != len(ids):
                raise InvalidArgument(f"vectors[{name!r}] holds {len(arr)} token sets for {len(ids)} points")
        elif arr.ndim != 2 or arr.shape[0] != len(ids):
            raise InvalidArgument(f"vectors[{name!r}] has shape {arr.shape} for {len(ids)} points")
    return [
        Point(pid, pay, {name: arr[j] for name, arr in vecs.items()} if m.with_vectors else None)
        for j, (pid, pay) in enumerate(zip(ids, pays))
    ]


def to_pb_hits(
    hits: Hits | list[Hits], with_payload: bool, out: search_pb2.SearchResponse | None = None
) -> search_pb2.SearchResponse:
    m = out if out is not None else search_pb2.SearchResponse()
    m.single = isinstance(hits, Hits)
    for h in [hits] if m.single else hits:
        r = m.results.add()
        to_pb_ids(h.ids, r.ids)
        to_pb_tensor(np.asarray(h.scores, dtype=np.float32), r.scores)
        if with_payload and h.payloads is not None:
            r.payloads.extend(to_pb_payload(p) for p in h.payloads)
        r.explain = to_json(h.explain) if h.explain else b""
    return m


def from_pb_hits(m: search_pb2.SearchResponse, with_payload: bool) -> Hits | list[Hits]:
    out = []
    for r in m.results:
        ids = from_pb_ids(r.ids)
        scores = from_pb_tensor(r.scores, "scores")
        if scores.shape != (len(ids),):
            raise InvalidArgument(f"scores of shape {scores.shape} for {len(ids)} hits")
        pays = [from_pb_payload(raw, dict) for raw in r.payloads] if with_payload else None
        if pays is not None and len(pays) != len(ids):
            raise InvalidArgument(f"{len(pays)} payloads for {len(ids)} hits")
        explain = from_json(r.explain, "explain") if r.explain else {}
        out.append(Hits(ids, scores.copy(), pays, explain))  # copy: writable, like the engine's scores
    if m.single:
        if len(out) != 1:
            raise InvalidArgument(f"a single-query answer holds {len(out)} results")
        return out[0]
    return out


# ---------------------------------------------------------------------------------------------------- calibration
def to_pb_calibration(
    d: Mapping[str, Any], out: collections_pb2.CalibrateResponse | None = None
) -> collections_pb2.CalibrateResponse:
    """Collection.calibrate()'s dict -> CalibrateResponse."""
    m = out if out is not None else collections_pb2.CalibrateResponse()
    m.k, m.queries = int(d["k"]), int(d["queries"])
    if d.get("default_candidates") is not None:
        m.default_candidates = int(d["default_candidates"])
    for recall, n in d["candidates_for"].items():
        m.candidates_for.add(recall=float(recall), candidates=int(n))
    return m


def from_pb_calibration(m: collections_pb2.CalibrateResponse) -> dict[str, Any]:
    return {
        "k": m.k,
        "queries": m.queries,
        "default_candidates": m.default_candidates if m.HasField("default_candidates") else None,
        "candidates_for": {rc.recall: rc.candidates for rc in m.candidates_for},
    }


# ---------------------------------------------------------------------------------------------------- model versions
def to_pb_model_versions(
    d: Mapping[str, Any], out: models_pb2.ModelVersionsResponse | None = None
) -> models_pb2.ModelVersionsResponse:
    """Collection.model_versions()'s dict -> ModelVersionsResponse."""
    m = out if out is not None else models_pb2.ModelVersionsResponse()
    if d.get("index_version") is not None:
        m.index_version = d["index_version"]
    for version, info in d["maps"].items():
        extra = sorted(set(info) - {"kind", "d_src", "d_dst", "fit"})
        if extra:
            raise InvalidArgument(f"query map entries {extra} have no wire form")
        m.maps.add(
            version=version,
            kind=info["kind"],
            d_src=int(info["d_src"]),
            d_dst=int(info["d_dst"]),
            fit_json=to_json(info.get("fit") or {}),
        )
    return m


def from_pb_model_versions(m: models_pb2.ModelVersionsResponse) -> dict[str, Any]:
    maps = {}
    for q in m.maps:
        if q.version in maps:
            raise InvalidArgument(f"model version {q.version!r} is listed twice")
        fit = from_json(q.fit_json, "fit report") if q.fit_json else {}
        maps[q.version] = {"kind": q.kind, "d_src": q.d_src, "d_dst": q.d_dst, "fit": fit}
    return {"index_version": m.index_version if m.HasField("index_version") else None, "maps": maps}


def to_pb_pair_rows(
    src: np.ndarray | None, dst: np.ndarray | None, weights: np.ndarray | None, out: models_pb2.PairRows
) -> models_pb2.PairRows:
    """Rows of paired embeddings (src/dst float32, weights float64; None: not sent)."""
    out.SetInParent()
    if src is not None:
        to_pb_tensor(np.asarray(src, np.float32), out.src)
    if dst is not None:
        to_pb_tensor(np.asarray(dst, np.float32), out.dst)
    if weights is not None:
        to_pb_tensor(np.asarray(weights, np.float64), out.weights)
    return out


class PairRowsBuilder:
    """Reassembles the PairRows of a FitQueryMap stream: each array's parts appended in order. One part is passed
    on exactly as it arrived (its shape intact, so the engine reports a malformed array in its own words)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.parts: dict[str, list[np.ndarray]] = {"src": [], "dst": [], "weights": []}
        self.given = False

    def add(self, m: models_pb2.PairRows) -> None:
        self.given = True
        for name, parts in self.parts.items():
            if m.HasField(name):
                parts.append(from_pb_tensor(getattr(m, name), f"{self.what} {name}"))

    def array(self, name: str) -> np.ndarray | None:
        parts = self.parts[name]
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        try:
            return np.concatenate(parts)
        except ValueError as e:
            raise InvalidArgument(f"the parts of {self.what} {name} do not fit together: {e}") from None


# ---------------------------------------------------------------------------------------------------- compression
def to_pb_compression_spec(
    d: Mapping[str, Any], out: types_pb2.CompressionSpec | None = None
) -> types_pb2.CompressionSpec:
    """A vecdb.compression CompressionSpec in its to_dict() form ({"kind", **parameters}) -> CompressionSpec."""
    m = out if out is not None else types_pb2.CompressionSpec()
    if not isinstance(d, Mapping) or not isinstance(d.get("kind"), str):
        raise InvalidArgument(f"a compression spec needs a 'kind', got {d!r}")
    _spec_to_pb(d, m)
    return m


def from_pb_compression_spec(m: types_pb2.CompressionSpec) -> dict[str, Any]:
    """The spec's to_dict() form (CompressionSpec.from_dict validates it on the engine side)."""
    return _spec_from_pb(m)


_ROW_NUMBERS = ("bytes_per_vector", "compression", "recall", "qps", "fit_seconds")
_ROW_OPTIONAL = ("recall_rescored", "oversampling", "target_reached", "qps_rescored")
_ROW_ORDER = ("codec", "spec", "bytes_per_vector", "compression", "recall", "recall_rescored", "oversampling",
              "target_reached", "qps", "qps_rescored", "fit_seconds", "k")  # fmt: skip


def to_pb_report_row(
    d: Mapping[str, Any], out: models_pb2.CompressionReportRow | None = None
) -> models_pb2.CompressionReportRow:
    """One row of compression_report (vecdb.compression ReportRow.to_dict()) -> CompressionReportRow."""
    m = out if out is not None else models_pb2.CompressionReportRow()
    extra = sorted(set(d) - {"codec", "spec", "k", *_ROW_NUMBERS, *_ROW_OPTIONAL})
    if extra:
        raise InvalidArgument(f"compression report entries {extra} have no wire form")
    m.codec, m.k = str(d["codec"]), int(d["k"])
    if d.get("spec") is not None:
        to_pb_compression_spec(d["spec"], m.spec)
    for name in _ROW_NUMBERS:
        setattr(m, name, float(d[name]))
    for name in _ROW_OPTIONAL:
        if d.get(name) is not None:
            setattr(m, name, d[name])
    return m


def from_pb_report_row(m: models_pb2.CompressionReportRow) -> dict[str, Any]:
    d: dict[str, Any] = {"codec": m.codec, "spec": from_pb_compression_spec(m.spec) if m.HasField("spec") else None}
    d.update({name: getattr(m, name) for name in _ROW_NUMBERS})
    d.update({name: getattr(m, name) if m.HasField(name) else None for name in _ROW_OPTIONAL})
    d["k"] = m.k
    return {name: d[name] for name in _ROW_ORDER}  # ReportRow's field order
