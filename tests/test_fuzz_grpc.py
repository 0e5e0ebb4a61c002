"""Hostile input over the wire: Hypothesis fuzzing of every RPC against a live in-process server (bounded number
of examples here; the on-demand run is `python tests/reliability/fuzz_grpc.py --examples 20000`), plus one
regression case for each problem the fuzzer found.

VECDB_FUZZ_EXAMPLES sets the number of examples (default 300)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest

from vecdb_client import convert as C
from vecdb_client.pb import admin_pb2, collections_pb2, models_pb2, points_pb2, search_pb2

sys.path.insert(0, str(Path(__file__).parent / "reliability"))
import fuzz_strategies as S  # noqa: E402
from fuzz_grpc import FuzzTarget, run  # noqa: E402

EXAMPLES = int(os.environ.get("VECDB_FUZZ_EXAMPLES", "300"))


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    t = FuzzTarget(str(tmp_path_factory.mktemp("fuzz")))
    yield t
    t.close()


def test_strategies_cover_every_served_rpc(target):
    a, c, p, s, m_ = admin_pb2, collections_pb2, points_pb2, search_pb2, models_pb2
    served = [
        f"/{svc.full_name}/{m.name}"
        for mod in (a, c, p, s, m_)
        for svc in mod.DESCRIPTOR.services_by_name.values()
        if svc.full_name in target.server.services
        for m in svc.methods
    ]
    assert len(served) >= 20 and set(served) == set(S.request_strategies())
    for path in served:
        desc = path.strip("/").replace("/", ".")
        method = next(
            m
            for mod in (a, c, p, s, m_)
            for svc in mod.DESCRIPTOR.services_by_name.values()
            for m in svc.methods
            if m.full_name == desc
        )
        assert method.client_streaming == (path in S.STREAMING_REQUESTS)
        assert method.server_streaming == (path in S.STREAMING_RESPONSES)


def test_fuzz_every_rpc(target):
    res = run(target, EXAMPLES)
    assert res["rpc_calls"] >= EXAMPLES
    statuses = res["statuses"]
    # the fuzzer reached past validation, not just into refusals
    assert statuses.get("OK", 0) >= EXAMPLES // 20 and statuses.get("INVALID_ARGUMENT", 0) >= EXAMPLES // 10, res


# ---------------------------------------------------------------------------------------------- regressions
def _ref(name="f"):
    return collections_pb2.CollectionRef(name=name)


def _search(k: int = 3, **kw) -> search_pb2.SearchRequest:
    r = search_pb2.SearchRequest(collection=_ref(), field="v", k=k, **kw)
    if "dense" not in kw:
        C.to_pb_tensor(np.ones(4, np.float32), r.dense)
    return r


def _deep_filter(depth: int) -> search_pb2.SearchRequest:
    r = _search()
    node = r.filter
    for _ in range(depth):
        node = node.not_filter
    node.exists.field = "n"
    return r


def _upsert_with_payload(raw: bytes) -> points_pb2.UpsertRequest:
    r = points_pb2.UpsertRequest(collection=_ref())
    C.to_pb_ids([100], r.ids)
    C.to_pb_tensor(np.ones((1, 4), np.float32), r.vectors.add(field="v").dense)
    r.payloads.append(raw)
    return r


def _create_compressed(params: bytes) -> collections_pb2.CreateCollectionRequest:
    r = collections_pb2.CreateCollectionRequest(name="cv")
    f = r.schema.vectors.add(name="t").field
    f.dense.dim, f.dense.metric = 4, "cosine"
    f.compression.kind, f.compression.params_json = "pq", params
    return r


def _datetime_filter(micros: int) -> search_pb2.SearchRequest:
    r = _search()
    r.filter.range.field = "d"
    r.filter.range.gt.datetime_micros = micros
    return r


def _huge_shape(shape) -> search_pb2.SearchRequest:
    r = _search()
    r.dense.shape[:] = shape
    r.dense.data = b""
    return r


FOUND = [  # (what the fuzzer sent, path, request bytes, expected status): INTERNAL before the fixes
    ("filter nested past protobuf's limit", "/vecdb.v1.Search/Search", _deep_filter(120), "INVALID_ARGUMENT"),
    ("random bytes", "/vecdb.v1.Search/Search", b"\xff\xff\xff", "INVALID_ARGUMENT"),
    ("shape overflowing int64", "/vecdb.v1.Search/Search", _huge_shape([2**63, 2]), "INVALID_ARGUMENT"),
    ("empty tensor of huge extent", "/vecdb.v1.Search/Search", _huge_shape([2**40, 0]), "INVALID_ARGUMENT"),
    ("datetime out of range", "/vecdb.v1.Search/Search", _datetime_filter(-(2**62)), "INVALID_ARGUMENT"),
    (
        "payload nested 100k deep",
        "/vecdb.v1.Points/Upsert",
        _upsert_with_payload(b"[" * 10**5 + b"]" * 10**5),
        "INVALID_ARGUMENT",
    ),
    ("params_json not an object", "/vecdb.v1.Collections/Create", _create_compressed(b"5"), "INVALID_ARGUMENT"),
    ("backup path with NUL", "/vecdb.v1.Admin/Backup", admin_pb2.BackupRequest(path="a\0b"), "INVALID_ARGUMENT"),
    ("10k queries x k=10k", "/vecdb.v1.Search/Search", None, "RESOURCE_EXHAUSTED"),
]


@pytest.mark.parametrize("what,path,message,expected", FOUND, ids=[f[0] for f in FOUND])
def test_found_by_fuzzing(target, what, path, message, expected):
    request = message
    if request is None:  # 1.2 GB of results promised: refused from the header
        request = _search(k=10_000)
        request.dense.shape[:] = [10_000, 4]
        request.dense.data = b"\0" * (10_000 * 16)
    raw = request if isinstance(request, bytes) else request.SerializeToString()
    code, details = target.call(path, raw)
    assert code.name == expected, details
    target.check_alive()


def test_snapshot_with_tiny_chunks_is_clamped(target):
    stub = target.channel.unary_stream("/vecdb.v1.Admin/Snapshot", response_deserializer=admin_pb2.FileChunk.FromString)
    chunks = list(stub(admin_pb2.SnapshotRequest(chunk_bytes=1).SerializeToString(), timeout=60))
    assert chunks and all(len(c.data) >= 64 << 10 for c in chunks[:-1])
    assert sum(len(c.data) for c in chunks) == chunks[0].total_bytes


def test_huge_int_filter_bound_over_grpc_is_invalid_argument(target):
    r = _search()
    r.filter.range.field = "x"
    r.filter.range.gt.big_int = "1" + "0" * 400
    code, details = target.call("/vecdb.v1.Search/Search", r.SerializeToString())
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details
