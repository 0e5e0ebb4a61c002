"""Hypothesis strategies for hostile input: JSON-like values, filter and schema dicts, and every vecdb protobuf
request (random field values, huge k, huge shapes, deep filters, NaN/inf, wrong dtypes, ids of every type).

The strategies lean towards what the fuzz server holds (collections "f" and "g", field "v", dims 4 and 3, the
declared payload fields below, ids 0..60) so that a good share of messages passes the first checks and reaches
the engine's deeper code; the rest is anything the wire can carry.
"""

from __future__ import annotations

import json

import numpy as np
from hypothesis import strategies as st

from vecdb_client.pb import admin_pb2, collections_pb2, models_pb2, points_pb2, search_pb2, types_pb2

# The fuzz server's collections (see fuzz_grpc.seed_server): "f" dense(4, l2) indexed, "g" dense(3, cosine) exact.
PAYLOAD_SCHEMA = {"n": "integer", "x": "float", "kw": "keyword", "tags": "keyword_set", "b": "boolean", "d": "datetime"}
BAD_NAMES = ["../x", "..", ".", "a/b", "/etc/passwd", "a\\b", "a\x00b", "", "x" * 65, "-x", "a b", "abc\n", "ü"]
INT64 = (-(2**63), 2**63 - 1)
U64 = (0, 2**64 - 1)

# ---------------------------------------------------------------------------------------------- scalars
edge_ints = st.sampled_from([0, 1, -1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, 10**400])
any_int = st.one_of(st.integers(-10, 70), st.integers(), edge_ints)
any_float = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, 1e308, 5e-324, 1e-45])
any_text = st.one_of(st.text(max_size=12), st.sampled_from(BAD_NAMES), st.text(min_size=250, max_size=300))
field_names = st.one_of(st.sampled_from(sorted(PAYLOAD_SCHEMA)), st.sampled_from(["undeclared", "v"]), any_text)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    any_int,
    any_float,
    any_text,
    st.binary(max_size=8),
    st.datetimes(timezones=st.none() | st.timezones()),
)
json_like = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text | field_names, inner, max_size=4),
    max_leaves=25,
)
json_values = st.recursive(  # what json.dumps can write (no bytes, datetimes, NaN handled by allow_nan)
    st.one_of(st.none(), st.booleans(), any_int, any_float, any_text),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text | field_names, inner, max_size=4),
    max_leaves=20,
)

# ---------------------------------------------------------------------------------------------- typed values
# Values of the right type for each declared payload field: most generated filters and payloads use these, so
# they pass validation and exercise the engine beyond it (the hostile strategies above cover the refusals).
TYPED_VALUES = {
    "n": st.integers(-5, 60) | st.integers(*INT64),
    "x": st.floats(-1e6, 1e6) | st.integers(-5, 60),
    "kw": st.sampled_from(["a", "b", "en", "fr"]) | st.text(max_size=4),
    "tags": st.sampled_from(["a", "b", "red"]) | st.text(max_size=4),
    "b": st.booleans(),
    "d": st.integers(-(10**15), 10**15),
}
TYPED_OPS = {
    "n": ["eq", "ne", "in", "not_in", "range", "exists"],
    "x": ["eq", "ne", "in", "not_in", "range", "exists"],
    "d": ["eq", "ne", "in", "not_in", "range", "exists"],
    "kw": ["eq", "ne", "in", "not_in", "exists"],
    "b": ["eq", "ne", "in", "not_in", "exists"],
    "tags": ["eq", "ne", "in", "not_in", "contains_any", "contains_all", "exists"],
}
typed_payloads = st.fixed_dictionaries(
    {},
    optional={
        **{k: v if k != "tags" else st.lists(v, max_size=3) for k, v in TYPED_VALUES.items()},
        "extra": json_values,
    },
)


@st.composite
def typed_leaf_dict(draw) -> dict:
    field = draw(st.sampled_from(sorted(TYPED_OPS)))
    op = draw(st.sampled_from(TYPED_OPS[field]))
    vals = TYPED_VALUES[field]
    if op in ("eq", "ne"):
        return {op: {"field": field, "value": draw(vals)}}
    if op == "range":
        lo, hi = draw(st.sampled_from([("gt", "lt"), ("gte", "lte"), ("gt", "lte"), ("gte", None), (None, "lt")]))
        return {op: {"field": field, **{b: draw(vals) for b in (lo, hi) if b}}}
    if op == "exists":
        return {op: {"field": field}}
    return {op: {"field": field, "values": draw(st.lists(vals, min_size=1, max_size=4))}}


# ---------------------------------------------------------------------------------------------- filter dicts
LEAF_OPS = ["eq", "ne", "in", "not_in", "contains_any", "contains_all", "exists", "range"]


@st.composite
def filter_leaf_dict(draw) -> dict:
    op = draw(st.sampled_from(LEAF_OPS) | any_text)
    arg: dict = {"field": draw(field_names | json_like)} if draw(st.integers(0, 9)) else {}
    if op in ("eq", "ne"):
        arg["value"] = draw(scalars)
    elif op == "range":
        for b in draw(st.lists(st.sampled_from(["gt", "gte", "lt", "lte"]), max_size=4)):
            arg[b] = draw(scalars)
    elif op != "exists":
        arg["values"] = draw(st.lists(scalars, max_size=5) | json_like)
    if draw(st.integers(0, 19)) == 0:
        arg[draw(any_text)] = draw(scalars)
    return {op: arg} if draw(st.integers(0, 19)) else {op: draw(json_like)}


filter_dicts = (
    st.recursive(
        st.one_of(typed_leaf_dict(), typed_leaf_dict(), typed_leaf_dict(), filter_leaf_dict()),
        lambda inner: st.one_of(
            st.builds(lambda xs: {"and": xs}, st.lists(inner, max_size=4)),
            st.builds(lambda xs: {"or": xs}, st.lists(inner, max_size=4)),
            st.builds(lambda x: {"not": x}, inner),
        ),
        max_leaves=12,
    )
    | json_like
)


@st.composite
def deep_filter_dict(draw) -> dict:
    f = draw(typed_leaf_dict())
    for _ in range(draw(st.integers(25, 60))):
        f = {"not": f} if draw(st.booleans()) else {draw(st.sampled_from(["and", "or"])): [f]}
    return f


# ---------------------------------------------------------------------------------------------- schema dicts
hnsw_dicts = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["hnsw"]) | any_text,
        "m": any_int | scalars,
        "ef_construction": any_int,
        "ef_search": st.none() | any_int,
        "index_threshold": any_int,
        "seed": any_int,
    },
)
vector_field_dicts = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["dense", "multi_vector", "binary"]) | any_text,
        "dim": any_int | scalars,
        "metric": st.sampled_from(["cosine", "dot", "l2", "maxsim", "hamming"]) | any_text,
        "index": st.none() | hnsw_dicts | json_like,
        "compression": json_like,
    },
)
valid_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,10}", fullmatch=True)
sane_vector_fields = st.fixed_dictionaries(
    {"dim": st.integers(1, 64)},
    optional={
        "kind": st.just("dense"),
        "metric": st.sampled_from(["cosine", "dot", "l2"]),
        "index": st.none()
        | st.fixed_dictionaries(
            {},
            optional={
                "kind": st.just("hnsw"),
                "m": st.integers(2, 128),
                "ef_construction": st.integers(1, 500),
                "ef_search": st.none() | st.integers(1, 500),
                "index_threshold": st.integers(0, 10_000_000),
                "seed": st.integers(0, 2**63 - 1),
            },
        ),
    },
)
sane_schemas = st.fixed_dictionaries(
    {"vectors": st.dictionaries(valid_names, sane_vector_fields, min_size=1, max_size=3)},
    optional={"payload": st.dictionaries(valid_names, st.sampled_from(list(PAYLOAD_SCHEMA.values())), max_size=4)},
)
schema_dicts = st.one_of(
    sane_schemas,
    sane_schemas,
    st.fixed_dictionaries(
        {"vectors": st.dictionaries(field_names, vector_field_dicts | json_like, max_size=3) | json_like},
        optional={"payload": st.dictionaries(field_names, st.sampled_from(list(PAYLOAD_SCHEMA.values())) | scalars)},
    ),
    json_like,
)


# ---------------------------------------------------------------------------------------------- protobuf pieces
_known_names = st.sampled_from(["f", "f", "f", "g", "g", "alias_f", "nope"])
collection_names = st.one_of(*[_known_names] * 5, any_text)  # mostly names the server holds
uids = st.one_of(*[st.just(0)] * 6, st.integers(*U64))  # 0: any incarnation; else almost surely a stale one


@st.composite
def collection_ref(draw) -> collections_pb2.CollectionRef:
    return collections_pb2.CollectionRef(name=draw(collection_names), uid=draw(uids))


small_ids = st.integers(0, 60)
u64s = st.one_of(small_ids, st.integers(*U64), st.sampled_from([0, 2**63, 2**64 - 1]))
str_ids = st.one_of(st.text(max_size=6), st.sampled_from(["", "a", "x" * 257]), st.text(min_size=250, max_size=300))


@st.composite
def point_id(draw, out: types_pb2.PointId | None = None) -> types_pb2.PointId:
    m = out if out is not None else types_pb2.PointId()
    kind = draw(st.sampled_from(["num", "num", "str", "unset"]))
    if kind == "num":
        m.num = draw(u64s)
    elif kind == "str":
        m.str = draw(str_ids)
    return m


@st.composite
def point_ids(draw, max_size: int = 12) -> types_pb2.PointIds:
    m = types_pb2.PointIds()
    kind = draw(st.sampled_from(["packed", "packed", "list", "raw", "both", "empty"]))
    if kind in ("packed", "both"):
        m.uint64_le = np.array(draw(st.lists(u64s, max_size=max_size)), dtype="<u8").tobytes()
    if kind == "raw":
        m.uint64_le = draw(st.binary(max_size=40))
    if kind in ("list", "both"):
        for _ in range(draw(st.integers(0, max_size))):
            draw(point_id(m.ids.add()))
    return m


FLOATS = st.floats(width=32, allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, 1.0, -1.0, 3e38])
NP_DTYPE = {types_pb2.FLOAT32: "<f4", types_pb2.UINT8: "u1", types_pb2.UINT64: "<u8", types_pb2.INT8: "i1"}


@st.composite
def tensor(draw, dims: tuple[int, ...] = (4, 3), out: types_pb2.Tensor | None = None) -> types_pb2.Tensor:
    t = out if out is not None else types_pb2.Tensor()
    t.dtype = draw(st.sampled_from([1, 1, 1, 1, 1, 0, 2, 3, 4, 5, 99]))
    mode = draw(st.sampled_from(["consistent"] * 6 + ["random", "huge_shape"]))
    if mode == "consistent":
        ndim = draw(st.sampled_from([1, 2, 2, 2, 0, 3]))
        dim = draw(st.sampled_from(dims) | st.integers(0, 6))
        rows = draw(st.integers(0, 6))
        shape = {0: (), 1: (dim,), 2: (rows, dim), 3: (rows, 1, dim)}[ndim]
        values = np.array(draw(st.lists(FLOATS, min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))))
        if draw(st.integers(0, 3)) == 0:
            values = np.zeros_like(values)  # zero vectors: no cosine
        dtype = NP_DTYPE.get(t.dtype, "<f4")
        with np.errstate(all="ignore"):
            arr = values.astype(np.float64)
            if dtype != "<f4":
                arr = np.nan_to_num(arr).clip(np.iinfo(dtype).min, np.iinfo(dtype).max)
            t.data = arr.astype(dtype).reshape(shape).tobytes()
        t.shape[:] = shape
    elif mode == "random":
        t.shape[:] = draw(st.lists(st.integers(0, 10) | st.integers(*U64), max_size=4))
        t.data = draw(st.binary(max_size=64))
    else:
        t.shape[:] = draw(st.lists(st.integers(2**31, 2**64 - 1) | st.integers(0, 4), min_size=1, max_size=9))
        t.data = draw(st.sampled_from([b"", b"\0" * 16]))
    return t


@st.composite
def ragged(draw, out: types_pb2.RaggedTensor) -> types_pb2.RaggedTensor:
    draw(tensor(out=out.values))
    out.lengths[:] = draw(st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 4), max_size=4))
    return out


@st.composite
def value(draw, out: types_pb2.Value) -> types_pb2.Value:
    kind = draw(st.sampled_from(["string", "int", "float", "bool", "dt", "big", "json", "unset"]))
    if kind == "string":
        out.string_value = draw(st.text(max_size=8) | st.sampled_from(["a", "b", "en"]))
    elif kind == "int":
        out.int_value = draw(st.integers(-5, 60) | st.integers(*INT64))
    elif kind == "float":
        out.float_value = draw(st.floats(allow_nan=True, allow_infinity=True))
    elif kind == "bool":
        out.bool_value = draw(st.booleans())
    elif kind == "dt":
        out.datetime_micros = draw(st.integers(*INT64) | st.integers(-(10**12), 10**12))
    elif kind == "big":
        out.big_int = draw(st.from_regex(r"-?[0-9]{1,450}", fullmatch=True) | st.text(max_size=6))
    elif kind == "json":
        out.json = draw(st.binary(max_size=12) | json_values.map(lambda v: json.dumps(v).encode()))
    return out


FILTER_FIELDS = st.one_of(st.sampled_from(sorted(PAYLOAD_SCHEMA)), st.sampled_from(["undeclared", ""]), any_text)


def _typed_pb_value(draw, field: str, out: types_pb2.Value) -> None:
    v = draw(TYPED_VALUES[field])
    if isinstance(v, bool):
        out.bool_value = v
    elif isinstance(v, int):
        out.int_value = v
    elif isinstance(v, float):
        out.float_value = v
    else:
        out.string_value = v


@st.composite
def typed_filter_leaf(draw, out: types_pb2.Filter) -> None:
    d = draw(typed_leaf_dict())
    ((op, arg),) = d.items()
    node = getattr(out, {"in": "is_in"}.get(op, op))
    node.field = arg["field"]
    if op in ("eq", "ne"):
        _typed_pb_value(draw, arg["field"], node.value)
    elif op == "range":
        for b in ("gt", "gte", "lt", "lte"):
            if b in arg:
                _typed_pb_value(draw, arg["field"], getattr(node, b))
    elif op != "exists":
        for _ in arg["values"]:
            _typed_pb_value(draw, arg["field"], node.values.add())


@st.composite
def filter_leaf(draw, out: types_pb2.Filter) -> None:
    if draw(st.integers(0, 3)):
        draw(typed_filter_leaf(out))
        return
    op = draw(
        st.sampled_from(["eq", "ne", "is_in", "not_in", "contains_any", "contains_all", "range", "exists", "empty"])
    )
    if op in ("eq", "ne"):
        node = getattr(out, op)
        node.field = draw(FILTER_FIELDS)
        draw(value(node.value))
    elif op in ("is_in", "not_in", "contains_any", "contains_all"):
        node = getattr(out, op)
        node.field = draw(FILTER_FIELDS)
        for _ in range(draw(st.integers(0, 4))):
            draw(value(node.values.add()))
    elif op == "range":
        out.range.field = draw(FILTER_FIELDS)
        for b in draw(st.lists(st.sampled_from(["gt", "gte", "lt", "lte"]), max_size=4, unique=True)):
            draw(value(getattr(out.range, b)))
    elif op == "exists":
        out.exists.field = draw(FILTER_FIELDS)


@st.composite
def filter_pb(draw, out: types_pb2.Filter, depth: int = 0) -> None:
    shape = draw(st.sampled_from(["leaf", "leaf", "and", "or", "not", "deep"] if depth < 3 else ["leaf"]))
    if shape == "leaf":
        draw(filter_leaf(out))
    elif shape in ("and", "or"):
        lst = out.all_of if shape == "and" else out.any_of
        lst.SetInParent()
        for _ in range(draw(st.integers(0, 4))):
            draw(filter_pb(lst.filters.add(), depth + 1))
    elif shape == "not":
        draw(filter_pb(out.not_filter, depth + 1))
    else:  # a chain deep enough to pass the server's limit (32), and sometimes protobuf's own (100)
        node = out
        for _ in range(draw(st.sampled_from([31, 32, 33, 40, 99, 120]))):
            node = node.not_filter
        draw(filter_leaf(node))


# ---------------------------------------------------------------------------------------------- requests
@st.composite
def search_request(draw) -> search_pb2.SearchRequest:
    r = search_pb2.SearchRequest(collection=draw(collection_ref()))
    r.field = draw(st.sampled_from(["v", "v", "v", "w", ""]) | any_text)
    which = draw(st.sampled_from(["dense"] * 8 + ["multi", "none"]))
    if which == "dense":
        draw(tensor(out=r.dense))
    elif which == "multi":
        draw(ragged(r.multi))
    r.k = draw(st.integers(1, 12) | st.integers(*INT64) | st.sampled_from([0, 10_000, 10_001, 1000]))
    r.with_payload = draw(st.booleans())
    if draw(st.integers(0, 2)) == 0:
        draw(filter_pb(r.filter))
    if draw(st.booleans()):
        r.params.SetInParent()
        if draw(st.booleans()):
            r.params.ef = draw(st.integers(0, 300) | st.integers(0, 2**32 - 1))
        r.params.exact = draw(st.booleans())
        if draw(st.booleans()):
            r.params.rescore = draw(st.booleans())
        if draw(st.booleans()):
            r.params.oversample = draw(any_float)
        r.params.use_codes = draw(st.booleans())
    if draw(st.integers(0, 4)) == 0:
        r.model_version = draw(any_text)
    return r


def _payload_doc(draw) -> bytes:
    kind = draw(st.sampled_from(["typed"] * 6 + ["schema", "json", "bytes", "deep", "empty"]))
    if kind == "typed":
        return json.dumps(draw(typed_payloads)).encode()
    if kind == "schema":
        doc = draw(st.dictionaries(st.sampled_from(sorted(PAYLOAD_SCHEMA)) | any_text, json_values, max_size=4))
        return json.dumps(doc, allow_nan=True).encode()
    if kind == "json":
        return json.dumps(draw(json_values), allow_nan=True).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=30))
    if kind == "deep":
        depth = draw(st.sampled_from([50, 1000, 100_000]))
        return b'{"a":' + b"[" * depth + b"]" * depth + b"}"
    return b""


@st.composite
def upsert_request(draw, atomic: bool | None = None) -> points_pb2.UpsertRequest:
    r = points_pb2.UpsertRequest(collection=draw(collection_ref()), ids=draw(point_ids()))
    for _ in range(draw(st.sampled_from([1, 1, 1, 0, 2]))):
        fv = r.vectors.add(field=draw(st.sampled_from(["v", "v", "", "w"]) | any_text))
        if draw(st.integers(0, 9)):
            draw(tensor(out=fv.dense))
        else:
            draw(ragged(fv.ragged))
    if draw(st.booleans()):
        for _ in range(draw(st.integers(0, 8))):
            r.payloads.append(_payload_doc(draw))
    r.atomic = draw(st.booleans()) if atomic is None else atomic
    return r


@st.composite
def create_request(draw) -> collections_pb2.CreateCollectionRequest:
    r = collections_pb2.CreateCollectionRequest(name=draw(collection_names), exist_ok=draw(st.booleans()))
    for _ in range(draw(st.integers(0, 3))):
        nf = r.schema.vectors.add(name=draw(st.sampled_from(["v", "w"]) | any_text))
        kind = draw(st.sampled_from(["dense", "dense", "dense", "multi_vector", "binary", "unset"]))
        if kind == "dense":
            nf.field.dense.dim = draw(st.integers(0, 8) | st.integers(0, 2**32 - 1))
            nf.field.dense.metric = draw(st.sampled_from(["cosine", "dot", "l2", ""]) | any_text)
            index = draw(st.sampled_from(["unset", "none", "hnsw"]))
            if index == "none":
                nf.field.dense.index.none.SetInParent()
            elif index == "hnsw":
                h = nf.field.dense.index.hnsw
                h.m = draw(st.integers(0, 40) | st.integers(0, 2**32 - 1))
                h.ef_construction = draw(st.integers(0, 64) | st.integers(0, 2**32 - 1))
                if draw(st.booleans()):
                    h.ef_search = draw(st.integers(0, 2**32 - 1))
                h.index_threshold = draw(st.integers(0, 100) | st.integers(*U64))
                h.seed = draw(st.integers(*U64))
        elif kind == "multi_vector":
            nf.field.multi_vector.dim = draw(st.integers(0, 2**32 - 1))
            mv = nf.field.multi_vector
            mv.metric = draw(st.sampled_from(["", "maxsim"]) | any_text)
            if draw(st.booleans()):
                mv.compression.kind = draw(st.sampled_from(["none", "int8", "binary", "residual"]) | any_text)
                if draw(st.booleans()):
                    mv.compression.nbits = draw(st.integers(0, 9) | st.integers(0, 2**32 - 1))
            if draw(st.booleans()):
                mv.fde.k_sim = draw(st.integers(0, 8) | st.integers(0, 2**32 - 1))
                mv.fde.reps = draw(st.integers(0, 8) | st.integers(0, 2**32 - 1))
                if draw(st.booleans()):
                    mv.fde.d_proj = draw(st.integers(0, 40) | st.integers(0, 2**32 - 1))
        elif kind == "binary":
            nf.field.binary.bits = draw(st.integers(0, 2**32 - 1))
        if draw(st.integers(0, 5)) == 0:
            nf.field.compression.kind = draw(any_text)
            nf.field.compression.params_json = draw(st.binary(max_size=10))
    for _ in range(draw(st.integers(0, 3))):
        r.schema.payload.add(
            name=draw(st.sampled_from(sorted(PAYLOAD_SCHEMA)) | any_text),
            type=draw(st.sampled_from(sorted(set(PAYLOAD_SCHEMA.values()))) | any_text),
        )
    return r


def request_strategies() -> dict[str, st.SearchStrategy]:
    """Method path -> strategy of its request (a list of messages for client streams): every RPC the server
    serves, health aside (tests/test_fuzz_grpc.py checks this against the service descriptors)."""
    ref = collection_ref()
    name = collection_names
    cases = {
        "/vecdb.v1.Search/Search": search_request(),
        "/vecdb.v1.Points/Upsert": upsert_request(atomic=False),
        "/vecdb.v1.Points/UpsertStream": st.lists(upsert_request(), max_size=4),
        "/vecdb.v1.Points/Get": st.builds(
            points_pb2.GetPointsRequest,
            collection=ref,
            ids=point_ids(),
            with_payload=st.booleans(),
            with_vectors=st.booleans(),
        ),
        "/vecdb.v1.Points/Delete": st.builds(points_pb2.DeletePointsRequest, collection=ref, ids=point_ids()),
        "/vecdb.v1.Points/Scroll": st.builds(
            points_pb2.ScrollRequest,
            collection=ref,
            limit=st.integers(-2, 70) | st.integers(*INT64),
            offset=st.none() | point_id(),
            with_payload=st.booleans(),
            with_vectors=st.booleans(),
        ),
        "/vecdb.v1.Points/Count": ref,
        "/vecdb.v1.Collections/Create": create_request(),
        "/vecdb.v1.Collections/Get": st.builds(collections_pb2.GetCollectionRequest, name=name),
        "/vecdb.v1.Collections/Has": st.builds(collections_pb2.HasCollectionRequest, name=name),
        "/vecdb.v1.Collections/List": st.just(collections_pb2.ListCollectionsRequest()),
        "/vecdb.v1.Collections/Drop": st.builds(
            collections_pb2.DropCollectionRequest, name=name, missing_ok=st.booleans()
        ),
        "/vecdb.v1.Collections/SetAlias": st.builds(collections_pb2.SetAliasRequest, alias=name, collection=name),
        "/vecdb.v1.Collections/DeleteAlias": st.builds(collections_pb2.DeleteAliasRequest, alias=name),
        "/vecdb.v1.Collections/ListAliases": st.just(collections_pb2.ListAliasesRequest()),
        "/vecdb.v1.Collections/Info": ref,
        "/vecdb.v1.Collections/Compact": ref,
        "/vecdb.v1.Collections/BuildIndex": st.builds(
            collections_pb2.BuildIndexRequest,
            collection=ref,
            field=st.sampled_from(["", "v", "w"]) | any_text,
            chunk=st.integers(0, 100) | st.integers(*U64),
        ),
        "/vecdb.v1.Collections/Calibrate": calibrate_request(),
        "/vecdb.v1.Drift/SetModelVersion": st.builds(
            models_pb2.SetModelVersionRequest, collection=ref, field=field_names, version=any_text
        ),
        "/vecdb.v1.Drift/ModelVersions": st.builds(models_pb2.ModelVersionsRequest, collection=ref, field=field_names),
        "/vecdb.v1.Drift/FitQueryMap": fit_query_map_stream(),
        "/vecdb.v1.Drift/DropQueryMap": st.builds(
            models_pb2.DropQueryMapRequest, collection=ref, field=field_names, version=any_text
        ),
        "/vecdb.v1.Compression/TrainCompression": train_compression_request(),
        "/vecdb.v1.Compression/SetCompression": set_compression_request(),
        "/vecdb.v1.Compression/CompressionReport": compression_report_request(),
        "/vecdb.v1.Admin/ServerInfo": st.just(admin_pb2.ServerInfoRequest()),
        "/vecdb.v1.Admin/Stats": st.just(admin_pb2.StatsRequest()),
        "/vecdb.v1.Admin/Backup": st.builds(admin_pb2.BackupRequest, path=any_text | st.sampled_from(["b1", "../b"])),
        "/vecdb.v1.Admin/Snapshot": st.builds(admin_pb2.SnapshotRequest, chunk_bytes=st.integers(0, 2**32 - 1)),
    }
    return cases


_CODEC_KINDS = st.sampled_from(["sign", "pq", "int8", "matryoshka", "learned_binary", ""]) | any_text
_CODEC_PARAMS = st.sampled_from([b'{"m": 2}', b'{"m": 3}', b'{"bits": 0}', b"[]", b"5", b""]) | st.binary(max_size=10)


def _codec_spec(draw, out: types_pb2.CompressionSpec) -> None:
    out.kind = draw(_CODEC_KINDS)
    out.params_json = draw(_CODEC_PARAMS)


def _opt_int(draw, r, name: str) -> None:
    if draw(st.booleans()):
        setattr(r, name, draw(st.integers(-3, 60) | st.integers(*INT64)))


@st.composite
def train_compression_request(draw) -> models_pb2.TrainCompressionRequest:
    r = models_pb2.TrainCompressionRequest(collection=draw(collection_ref()))
    r.field = draw(st.sampled_from(["", "v", "c"]) | any_text)
    _opt_int(draw, r, "sample")
    _opt_int(draw, r, "seed")
    if draw(st.booleans()):
        draw(tensor(dims=(3, 4), out=r.queries))
    return r


@st.composite
def set_compression_request(draw) -> models_pb2.SetCompressionRequest:
    r = models_pb2.SetCompressionRequest(collection=draw(collection_ref()))
    r.field = draw(st.sampled_from(["", "v", "c"]) | any_text)
    if draw(st.booleans()):
        _codec_spec(draw, r.spec)
    return r


@st.composite
def compression_report_request(draw) -> models_pb2.CompressionReportRequest:
    r = models_pb2.CompressionReportRequest(collection=draw(collection_ref()))
    r.field = draw(st.sampled_from(["", "v", "c"]) | any_text)
    for _ in range(draw(st.integers(1, 2))):  # never empty: the default spread trains every codec (slow)
        _codec_spec(draw, r.codecs.add())
    for name in ("sample", "k", "seed"):
        _opt_int(draw, r, name)
    if draw(st.booleans()):
        r.recall_target = draw(any_float)
    return r


@st.composite
def calibrate_request(draw) -> collections_pb2.CalibrateRequest:
    r = collections_pb2.CalibrateRequest(collection=draw(collection_ref()))
    r.field = draw(st.sampled_from(["", "v", "t"]) | any_text)
    for name in ("k", "n_pseudo", "pseudo_tokens", "seed"):
        if draw(st.booleans()):
            setattr(r, name, draw(st.integers(-3, 70) | st.integers(*INT64)))
    if draw(st.booleans()):
        r.recall_target = draw(any_float)
    r.measure_only = draw(st.booleans())
    return r


def _pair_rows(draw, out: models_pb2.PairRows) -> None:
    draw(tensor(dims=(4, 3), out=out.src))
    draw(tensor(dims=(4, 3), out=out.dst))
    if draw(st.booleans()):
        draw(tensor(dims=(1, 3), out=out.weights))


@st.composite
def fit_query_map_stream(draw) -> list[models_pb2.FitQueryMapRequest]:
    """The client stream of Drift.FitQueryMap: a header (collection, field, version, kind, args) then pair rows;
    sometimes no message at all, a header repeated, or rows before the header."""
    msgs = []
    for i in range(draw(st.integers(0, 4))):
        m = models_pb2.FitQueryMapRequest()
        if i == 0 or draw(st.integers(0, 5)) == 0:
            m.collection.CopyFrom(draw(collection_ref()))
            m.field = draw(st.sampled_from(["v", ""]) | any_text)
            m.version = draw(st.sampled_from(["m2", ""]) | any_text)
            m.kind = draw(
                st.sampled_from(["", "auto", "procrustes", "ridge", "low_rank", "mean_shift", "mlp"]) | any_text
            )
            m.args_json = draw(st.sampled_from([b"", b"{}", b"5", b"[", b'{"holdout": 2}', b'{"epochs": 1e9}']))
        if draw(st.booleans()):
            _pair_rows(draw, m.pairs)
        if draw(st.integers(0, 3)) == 0:
            _pair_rows(draw, m.val)
        msgs.append(m)
    return msgs


@st.composite
def valid_search_request(draw) -> search_pb2.SearchRequest:
    """A search of "f" that passes every check, so the filters, planner and kernels run on hostile-ish values."""
    r = search_pb2.SearchRequest(collection=collections_pb2.CollectionRef(name=draw(st.sampled_from(["f", "alias_f"]))))
    r.field = "v"
    rows = draw(st.integers(1, 5))
    q = draw(st.lists(st.floats(-1e3, 1e3, width=32), min_size=4 * rows, max_size=4 * rows))
    C_shape = (rows, 4) if rows > 1 or draw(st.booleans()) else (4,)
    r.dense.dtype = types_pb2.FLOAT32
    r.dense.shape[:] = C_shape
    r.dense.data = np.array(q, dtype="<f4").tobytes()
    r.k = draw(st.integers(1, 30) | st.sampled_from([40, 1000, 10_000]))
    r.with_payload = draw(st.booleans())
    if draw(st.booleans()):
        if draw(st.integers(0, 3)):
            draw(typed_filter_leaf(r.filter))
        else:
            draw(filter_pb(r.filter))
    if draw(st.booleans()):
        r.params.SetInParent()
        if draw(st.booleans()):
            r.params.ef = draw(st.integers(1, 300))
        r.params.exact = draw(st.booleans())
    return r


@st.composite
def valid_upsert_request(draw) -> points_pb2.UpsertRequest:
    r = points_pb2.UpsertRequest(collection=collections_pb2.CollectionRef(name="f"))
    ids = draw(st.lists(st.integers(0, 80) | st.integers(*U64), min_size=1, max_size=30, unique=True))
    r.ids.uint64_le = np.array(ids, dtype="<u8").tobytes()
    x = draw(st.lists(st.floats(-1e3, 1e3, width=32), min_size=4 * len(ids), max_size=4 * len(ids)))
    fv = r.vectors.add(field="v")
    fv.dense.dtype = types_pb2.FLOAT32
    fv.dense.shape[:] = (len(ids), 4)
    fv.dense.data = np.array(x, dtype="<f4").tobytes()
    if draw(st.booleans()):
        r.payloads.extend(json.dumps(draw(typed_payloads)).encode() for _ in ids)
    return r


def requests() -> st.SearchStrategy:
    """(method path, request message or list of messages for client streams); well-formed searches and upserts
    are weighted up so a fair share of cases runs the engine end to end."""
    every = [st.tuples(st.just(path), s) for path, s in request_strategies().items()]
    search = st.tuples(st.just("/vecdb.v1.Search/Search"), valid_search_request())
    upsert = st.tuples(st.just("/vecdb.v1.Points/Upsert"), valid_upsert_request())
    return st.one_of(*every, *[search] * 6, *[upsert] * 3)


STREAMING_REQUESTS = {"/vecdb.v1.Points/UpsertStream", "/vecdb.v1.Drift/FitQueryMap"}
STREAMING_RESPONSES = {"/vecdb.v1.Admin/Snapshot"}


def serialize(request) -> bytes | list[bytes]:
    if isinstance(request, list):
        return [m.SerializeToString() for m in request]
    return request.SerializeToString()


@st.composite
def mutated(draw, raw: bytes) -> bytes:
    """Byte-level mutations of a serialized message: flips, inserts, deletes, truncation, splices."""
    b = bytearray(raw)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "varint"]))
        pos = draw(st.integers(0, max(len(b), 1) - 1)) if b else 0
        if op == "flip" and b:
            b[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and b:
            b[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            b[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and b:
            del b[pos : pos + draw(st.integers(1, 8))]
        elif op == "truncate":
            del b[pos:]
        elif op == "varint":  # a length or tag turned into a huge varint
            b[pos:pos] = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"
    return bytes(b)


@st.composite
def raw_cases(draw) -> tuple[str, bytes | list[bytes]]:
    """(method path, raw bytes): a valid message mutated, or random bytes."""
    path, request = draw(requests())
    raw = serialize(request)
    if draw(st.integers(0, 4)) == 0:
        junk = draw(st.binary(max_size=64))
        return path, [junk] if isinstance(raw, list) else junk
    if isinstance(raw, list):
        return path, [draw(mutated(r)) for r in raw]
    return path, draw(mutated(raw))
