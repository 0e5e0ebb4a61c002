"""Configurable request limits of the server (max k, queries, queries x k, points, filter depth and size), their
CLI flags, and the rule that a value the engine itself rejects keeps the engine's error."""

from __future__ import annotations

import argparse

import grpc
import numpy as np
import pytest
from grpc_fixtures import start

import vecdb_client
from vecdb import Dense
from vecdb import errors as E
from vecdb import filters as F
from vecdb_client import convert as C
from vecdb_client.pb import collections_pb2, points_pb2, points_pb2_grpc, search_pb2, search_pb2_grpc
from vecdb_server import ServerConfig
from vecdb_server.main import add_serve_command, config_from_args

LIMITS = dict(max_k=5, max_queries=3, max_results=10, max_points=100, max_filter_depth=3, max_filter_nodes=8)


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    srv, port = start(tmp_path_factory.mktemp("limits"), **LIMITS)
    db = vecdb_client.connect(f"127.0.0.1:{port}", timeout=30)
    c = db.create_collection("c", vectors={"v": Dense(4, "l2")}, payload={"n": "integer"})
    c.upsert(np.arange(50), np.random.default_rng(0).normal(size=(50, 4)), [{"n": i} for i in range(50)])
    yield srv, db, c
    db.close()
    srv.stop(0)


def test_search_limits(limited):
    _, _, c = limited
    q = np.ones(4)
    assert len(c.search("v", q, k=5)) == 5
    with pytest.raises(E.ResourceExhausted, match=r"k 6 exceeds this server's limit of 5 \(--max-k\)"):
        c.search("v", q, k=6)
    with pytest.raises(E.InvalidArgument, match=r"k must be in \[1, 10000\]"):  # the engine's own error wins
        c.search("v", q, k=0)
    with pytest.raises(E.InvalidArgument, match=r"k must be in \[1, 10000\]"):
        c.search("v", q, k=10**9)
    assert len(c.search("v", np.ones((3, 4)), k=3)) == 3  # 9 results <= 10
    with pytest.raises(E.ResourceExhausted, match="queries in one call 4 exceeds.*--max-queries"):
        c.search("v", np.ones((4, 4)), k=1)
    with pytest.raises(E.ResourceExhausted, match=r"queries x k \(3 x 4\) = 12 exceeds.*--max-results"):
        c.search("v", np.ones((3, 4)), k=4)


def test_filter_limits(limited):
    _, _, c = limited
    f = F.range_("n", gte=10)
    for _ in range(3):
        f = F.not_(f)
    c.search("v", np.ones(4), k=1, filter=f)  # depth 3 is allowed
    with pytest.raises(E.InvalidArgument, match="filter nested deeper than 3 levels"):
        c.search("v", np.ones(4), k=1, filter=F.not_(f))
    wide = F.or_(*[F.eq("n", i) for i in range(7)])  # 8 nodes
    assert c.search("v", np.ones(4), k=5, filter=wide).ids
    with pytest.raises(E.ResourceExhausted, match="filter nodes 9 exceeds.*--max-filter-nodes"):
        c.search("v", np.ones(4), k=5, filter=F.or_(*[F.eq("n", i) for i in range(8)]))


def test_point_limits(limited):
    srv, db, c = limited
    x = np.ones((101, 4), np.float32)
    with pytest.raises(E.ResourceExhausted, match="points in one request 101 exceeds.*--max-points"):
        c.upsert(np.arange(1000, 1101), x)
    assert c.upsert(np.arange(1000, 1100), x[:100]) == 100
    with pytest.raises(E.ResourceExhausted, match="ids in one request 101"):
        c.get(list(range(101)))
    with pytest.raises(E.ResourceExhausted, match="ids in one request 101"):
        c.delete(list(range(101)))
    assert c.count() == 150
    # an atomic stream of parts: refused as a whole when the parts add up beyond the limit, nothing committed
    with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
        stub = points_pb2_grpc.PointsStub(ch)
        parts = []
        for s in (2000, 2060):
            part = points_pb2.UpsertRequest(collection=collections_pb2.CollectionRef(name="c"), atomic=s == 2000)
            C.to_pb_ids(list(range(s, s + 60)), part.ids)
            C.to_pb_tensor(np.ones((60, 4), np.float32), part.vectors.add(field="v").dense)
            parts.append(part)
        with pytest.raises(grpc.RpcError) as info:
            stub.UpsertStream(iter(parts), timeout=30)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "points in one atomic upsert stream 120" in info.value.details()
        # the same parts as separate transactions each fit
        parts[0].atomic = False
        assert stub.UpsertStream(iter(parts), timeout=30).upserted == 120
    assert c.count() == 270


def test_limits_are_refused_before_decoding(limited):
    """A search whose tensor header promises too many queries is refused before its data is looked at (here the
    data is missing altogether, which decoding would report as InvalidArgument)."""
    srv, _, _ = limited
    req = search_pb2.SearchRequest(collection=collections_pb2.CollectionRef(name="c"), field="v", k=5)
    req.dense.dtype = 1
    req.dense.shape[:] = [4, 4]  # 4 queries promised, no data sent
    with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch, pytest.raises(grpc.RpcError) as info:
        search_pb2_grpc.SearchStub(ch).Search(req, timeout=10)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_config_validation_and_cli_flags():
    for bad in (
        {"max_k": 0},
        {"max_k": 10_001},
        {"max_queries": True},
        {"max_results": -1},
        {"max_points": 1.5},
        {"max_filter_depth": 33},
        {"max_filter_nodes": 0},
        {"backup_dir": "a\x00b"},
    ):
        with pytest.raises(E.InvalidArgument):
            ServerConfig(**bad)
    parser = argparse.ArgumentParser()
    add_serve_command(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(
        ["serve", "--max-k", "7", "--max-queries", "9", "--max-results", "63", "--max-points", "11"]
        + ["--max-filter-depth", "4", "--max-filter-nodes", "99", "--backup-dir", "/tmp"]
    )
    cfg = config_from_args(args)
    assert (cfg.max_k, cfg.max_queries, cfg.max_results, cfg.max_points) == (7, 9, 63, 11)
    assert (cfg.max_filter_depth, cfg.max_filter_nodes) == (4, 99)
    assert cfg.backup_dir is not None
    defaults = config_from_args(parser.parse_args(["serve"]))
    assert defaults.max_k == 10_000 and defaults.max_results == 1_000_000 and defaults.backup_dir is None
