"""The single-query fast path (Collection._search_one, graph.search_one): the same results as the general path, bit
for bit, wherever it runs; the general path wherever the plan differs; a hot snapshot that follows every commit,
including another process's."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from plans import CountPlans, same_hits
from procs import run_threads
from reference import _d, beam_search, greedy_descent, two_hop_search

import vecdb
from vecdb import filters as F
from vecdb.ids import STR_SENTINEL
from vecdb.index.hnsw import Graph
from vecdb.index.runtime import encode_walk, walk_quantizer
from vecdb.kernels import graph as gk
from vecdb.params import HNSWParams, SearchParams

DIM = 16


def _col(db, metric="cosine", n=3000, rng=None, ids=None, payload=True, **index):
    rng = rng or np.random.default_rng(0)
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    hp = HNSWParams(m=8, ef_construction=60, index_threshold=index.pop("index_threshold", 10_000_000), **index)
    col = db.create_collection("c", vectors={"v": vecdb.Dense(DIM, metric, index=hp)}, payload={"g": "integer"})
    pays = [{"g": i % 7} for i in range(n)] if payload else None
    col.upsert(list(range(n)) if ids is None else ids, x, pays)
    col.build_index(progress=False)
    return col, x


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_one_query_matches_the_general_path_bit_for_bit(tmp_path, metric, monkeypatch):
    db = vecdb.open(tmp_path / "db")
    col, _ = _col(db, metric)
    plans = CountPlans(monkeypatch)
    rng = np.random.default_rng(1)
    for i in range(40):
        q = rng.standard_normal(DIM).astype(np.float32)
        params = None if i % 3 == 0 else SearchParams(ef=[8, 24, 96][i % 3])
        k = [1, 5, 10, 30][i % 4]
        for with_payload in (True, False):
            before = plans.calls
            one = col.search("v", q, k=k, params=params, with_payload=with_payload)
            assert plans.calls == before, "a plain single query should not need the general planner"
            batch = col.search("v", q[None], k=k, params=params, with_payload=with_payload)[0]
            assert plans.calls == before + 1
            same_hits(one, batch)
            assert one.explain["path"] == "hnsw" and len(one.ids) == k
    db.close()


def test_string_ids_and_dead_rows_below_the_replan_threshold(tmp_path, monkeypatch):
    db = vecdb.open(tmp_path / "db")
    n = 2000
    col, x = _col(db, "l2", n=n, ids=[f"doc-{i}" for i in range(n)])
    col.delete([f"doc-{i}" for i in range(0, n, 20)])  # 5% dead: still the plain walk, dead rows never returned
    plans = CountPlans(monkeypatch)
    found = []
    for i in range(1, 400, 7):
        one = col.search("v", x[i], k=10)
        assert plans.calls == 0
        same_hits(one, col.search("v", x[i][None], k=10)[0])
        plans.calls = 0
        assert all(int(s.split("-")[1]) % 20 for s in one.ids)  # no deleted point
        if i % 20:
            found.append(one.ids[0] == f"doc-{i}")
    assert np.mean(found) >= 0.9  # a live point finds itself (a few nodes of this small graph are unreachable)
    db.close()


def test_ids_past_int64_and_mixed_ids_come_back_whole(tmp_path, monkeypatch):
    """The kernel hands ids back as int64 bits (half the cost of converting uint64s): ids >= 2**63 and string ids
    among the results still come back as the points' ids, with and without payloads."""
    db = vecdb.open(tmp_path / "db")
    n = 1500
    ids = [f"s{i}" if i % 3 == 0 else (2**64 - 2 - i if i % 3 == 1 else i) for i in range(n)]
    col, x = _col(db, "l2", n=n, ids=ids)
    plans = CountPlans(monkeypatch)
    for i in range(0, 60, 4):
        for with_payload in (False, True):
            one = col.search("v", x[i], k=12, with_payload=with_payload)
            assert plans.calls == 0
            same_hits(one, col.search("v", x[i][None], k=12, with_payload=with_payload)[0])
            plans.calls = 0
            assert one.ids[0] == ids[i] and all(p in ids for p in one.ids)
            assert all(type(p) is int or type(p) is str for p in one.ids)
    db.close()


def test_the_general_path_runs_where_the_plan_differs(tmp_path, monkeypatch):
    db = vecdb.open(tmp_path / "db")
    col, x = _col(db, "cosine", n=1000)
    plans = CountPlans(monkeypatch)
    q = x[3]
    col.search("v", q, k=5)
    assert plans.calls == 0
    for kwargs in (
        {"filter": F.eq("g", 3)},
        {"params": SearchParams(exact=True)},
        {"k": 1000},  # k above live: fine here, and refused once points are deleted below
    ):
        before = plans.calls
        hits = col.search("v", q, **{"k": 5, **kwargs})
        assert plans.calls == before + (0 if "k" in kwargs else 1)
        same_hits(hits, col.search("v", q[None], **{"k": 5, **kwargs})[0])
    col.upsert([5000], np.ones((1, DIM), np.float32), [{"g": 1}])  # an unindexed tail: scanned exactly and merged
    before = plans.calls
    hits = col.search("v", np.ones(DIM, np.float32), k=3)
    assert plans.calls == before + 1 and hits.ids[0] == 5000 and hits.explain["exact_tail_rows"] == 1
    col.delete(list(range(300)))  # 30% dead: planned like a filter over the live rows
    col.build_index(progress=False)
    before = plans.calls
    hits = col.search("v", q, k=5)
    assert plans.calls == before + 1 and "dead_rows" in hits.explain
    with pytest.raises(vecdb.InvalidArgument, match="exceeds"):
        col.search("v", q, k=1000)
    db.close()


def test_bad_queries_get_the_general_paths_errors(tmp_path):
    db = vecdb.open(tmp_path / "db")
    col, _ = _col(db, "cosine", n=500)
    for bad, message in (
        (np.zeros(DIM, np.float32), "zero vector"),
        (np.full(DIM, np.nan, np.float32), "NaN or infinity"),
        (np.full(DIM, 3e20, np.float32), "beyond"),
    ):
        with pytest.raises(vecdb.InvalidArgument, match=message):
            col.search("v", bad, k=3)
    big = np.zeros(DIM, np.float32)
    big[:2] = [1e15, -1e15]  # a sum of squares above the quick check's bound, but valid: the full check passes it
    same_hits(col.search("v", big, k=3), col.search("v", big[None], k=3)[0])
    with pytest.raises(vecdb.InvalidArgument):
        col.search("v", np.ones(DIM + 1, np.float32), k=3)
    for k in (0, -1, 10_001, 2.0):
        with pytest.raises(vecdb.InvalidArgument):
            col.search("v", np.ones(DIM, np.float32), k=k)
    db.close()


def test_the_hot_snapshot_follows_every_commit(tmp_path, monkeypatch):
    db = vecdb.open(tmp_path / "db")
    col, x = _col(db, "l2", n=1500, index_threshold=0)  # index_threshold 0: every upsert links its rows at once
    plans = CountPlans(monkeypatch)
    target = np.full(DIM, 9.0, np.float32)
    assert 7777 not in col.search("v", target, k=5).ids
    col.upsert([7777], target[None], [{"g": 0}])
    hits = col.search("v", target, k=5)
    assert hits.ids[0] == 7777 and hits.scores[0] == 0.0 and plans.calls == 0
    col.delete([7777])
    assert 7777 not in col.search("v", target, k=5).ids
    col.upsert([7777], (target + 1)[None], None)  # replaced: the new vector, no payload
    hits = col.search("v", target + 1, k=2)
    assert hits.ids[0] == 7777 and not hits.payloads[0]  # the old payload is gone
    col.compact(progress=False)  # a new epoch: rows renumbered, the graph rebuilt or repaired
    hits = col.search("v", target + 1, k=2)
    assert hits.ids[0] == 7777
    same_hits(hits, col.search("v", (target + 1)[None], k=2)[0])
    assert plans.calls == 1  # the matrix query above: every single query took the fast path
    db.close()


def test_the_hot_snapshot_follows_another_process(tmp_path):
    """A read-only process keeps its hot snapshot by LMDB's transaction id, which the writing process moves on
    every commit: the reader sees the new point at its next search."""
    path = tmp_path / "db"
    db = vecdb.open(path)
    _col(db, "l2", n=1500, index_threshold=0)
    db.close()
    reader = vecdb.open(path, read_only=True)
    col = reader["c"]
    target = np.full(DIM, 9.0, np.float32)
    assert 4242 not in col.search("v", target, k=3).ids
    script = textwrap.dedent(
        f"""
        import numpy as np, vecdb
        db = vecdb.open({str(path)!r})
        db["c"].upsert([4242], np.full((1, {DIM}), 9.0, np.float32))
        db.close()
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    hits = col.search("v", target, k=3)
    assert hits.ids[0] == 4242 and hits.scores[0] == 0.0
    reader.close()


@pytest.mark.parametrize("codes", [False, True], ids=["float-walk", "8-bit-walk"])
@pytest.mark.parametrize("metric", ["l2", "dot", "cosine"])
def test_search_one_kernel_matches_reference(metric, codes, rng):
    """search_one (prepare + plain or filtered walk + ids) and search_batch / search_batch_filtered against the
    plain-Python twins, over a graph with a fifth of its rows disallowed (plain walk) and with a selective mask
    (two-hop walk). The 8-bit walk: the twins walk the codes (as floats, the query mapped to code space for l2) and
    the nodes they end with are rescored with the float vectors."""
    mcode = {"l2": 1, "dot": 0, "cosine": 0}[metric]
    x = rng.normal(size=(1200, 10)).astype(np.float32)
    if metric == "cosine":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    g = Graph(HNSWParams(m=8, ef_construction=40), mcode)
    g.insert(np.arange(len(x)), x, epoch=0)
    ids = np.arange(len(x), dtype=np.uint64) * 3 + 1
    cq = np.array(walk_quantizer(x), np.float32)
    C = np.zeros((0, x.shape[1]), np.uint8)
    xs = x
    if codes:
        C = np.empty(x.shape, np.uint8)
        encode_walk(x, 0, len(x), cq, C)
        xs = C.astype(np.float32)
        assert np.abs(cq[0] + cq[1] * xs - x).max() <= cq[1] / 2 + 1e-6  # rounding error at most half a step

    def lists(node, level):
        row = g.links0[node] if level == 0 else g.links_up[g.upper_slot[node], level - 1]
        return row[1 : row[0] + 1].tolist()

    ref_metric = "dot" if metric == "cosine" else metric
    walks = set()
    for share_allowed, filtered, share in ((0.8, False, 2.0), (0.25, True, 0.75), (0.25, True, 2.0), (0.9, True, 0.75)):
        allowed = (rng.random(len(x)) < share_allowed).astype(np.uint8)
        for _ in range(6):
            q = rng.normal(size=10).astype(np.float32)
            qp = q / np.sqrt(np.float32((q * q).sum())) if metric == "cosine" else q
            for ef, k in ((6, 4), (30, 10)):
                out_d, out_id = np.empty(k, np.float32), np.empty(k, np.uint64)
                rows, info = np.empty(k, np.int32), np.zeros(4, np.int64)
                box = g.visited()
                box[1] = gk.search_one(q, metric == "cosine", x, C, cq, g.links0, g.links_up, g.upper_slot, g.ep,
                                       g.max_level, ef, allowed, len(x), mcode, box[0], box[1], ids, filtered, share,
                                       out_d, out_id, rows, info)  # fmt: skip
                qs = (qp - cq[0]) * (np.float32(1) / cq[1]) if codes and metric == "l2" else qp
                entry = greedy_descent(qs, xs, lists, g.ep, g.max_level, 0, ref_metric)
                width = max(ef, k)
                if filtered:
                    ref, plain = two_hop_search(qs, xs, lambda n: lists(n, 0), entry, width, allowed, ref_metric,
                                                share)  # fmt: skip
                    assert info[3] == plain
                    walks.add(plain)
                else:
                    ref = beam_search(qs, xs, lambda n: lists(n, 0), entry, width, allowed, ref_metric)
                if codes:  # the walk's ef best, rescored with the floats
                    ref = sorted(((_d(qp, x[n], ref_metric), n) for _, n in ref), key=lambda t: t[0])
                ref = ref[:k]
                assert info[2] == 0 and info[1] == len(ref)
                assert rows[: len(ref)].tolist() == [n for _, n in ref]
                assert out_id[: len(ref)].tolist() == [int(ids[n]) for _, n in ref]
                scores = [np.sqrt(d) for d, _ in ref] if metric == "l2" else [-d for d, _ in ref]
                np.testing.assert_allclose(out_d[: len(ref)], scores, rtol=1e-4, atol=1e-4)
                # the batch kernels walk the same way
                Q = qp[None].astype(np.float32)
                bd, bi = np.empty((1, k), np.float32), np.empty((1, k), np.int32)
                nd, walk = np.zeros(1, np.int64), np.zeros(1, np.uint8)
                if filtered:
                    box[1] = gk.search_batch_filtered(Q, x, C, cq, g.links0, g.links_up, g.upper_slot, g.ep,
                                                      g.max_level, ef, allowed, len(x), mcode, box[0], box[1], bd, bi,
                                                      nd, share, walk)  # fmt: skip
                    assert walk[0] == info[3]
                else:
                    box[1] = gk.search_batch(Q, x, C, cq, g.links0, g.links_up, g.upper_slot, g.ep, g.max_level, ef,
                                             allowed, len(x), mcode, box[0], box[1], bd, bi, nd)  # fmt: skip
                assert bi[0, : len(ref)].tolist() == [n for _, n in ref] and nd[0] == info[0]
                np.testing.assert_allclose(bd[0, : len(ref)], [d for d, _ in ref], rtol=1e-4, atol=1e-4)
    assert walks == {True, False}  # both walks were exercised
    bad = np.full(10, np.nan, np.float32)
    info = np.zeros(4, np.int64)
    gk.search_one(bad, False, x, C, cq, g.links0, g.links_up, g.upper_slot, g.ep, g.max_level, 8, allowed, len(x),
                  mcode, g.visited()[0], 0, ids, False, 2.0, np.empty(3, np.float32), np.empty(3, np.uint64),
                  np.empty(3, np.int32), info)  # fmt: skip
    assert info[2] != 0 and info[1] == 0  # nothing searched: the caller reports the error


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_search_ctx_is_search_one_with_the_snapshot_packed(metric, rng):
    """graph.search_ctx / search_ctx_filtered (the API's entries: the snapshot's arrays as addresses in one int64
    array, the visited array in the work array) return what search_one returns for the same arrays, unfiltered and
    filtered, with the flags and distances packed into the result; a visited array too small is refused, not
    overrun; graph_ctx and new_work refuse arrays they cannot address as the kernel reads them."""
    mcode = {"l2": 1, "cosine": 0}[metric]
    x = rng.normal(size=(900, 12)).astype(np.float32)
    if metric == "cosine":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    g = Graph(HNSWParams(m=8, ef_construction=40), mcode)
    g.insert(np.arange(len(x)), x, epoch=0)
    ids = np.arange(len(x), dtype=np.uint64) * 5
    live = np.ones(len(x), np.uint8)
    live[::7] = 0
    cq = np.array(walk_quantizer(x), np.float32)
    C = np.empty(x.shape, np.uint8)
    encode_walk(x, 0, len(x), cq, C)
    ctx = gk.graph_ctx(x, C, cq, g.links0, g.links_up, g.upper_slot, ids, live, g.ep, g.max_level, len(x), mcode,
                       metric == "cosine")  # fmt: skip
    kmax = 40
    visited = np.zeros(len(x), np.uint16)  # its tag lives in work (search_one's in box[1]: separate arrays)
    work = gk.new_work(kmax, visited)
    tags = []
    for allowed_share, share in ((None, -1.0), (0.3, 0.75), (0.3, 2.0)):
        allowed = live if allowed_share is None else (rng.random(len(x)) < allowed_share).astype(np.uint8)
        for _ in range(5):
            q = rng.normal(size=12).astype(np.float32)
            for ef, k in ((8, 5), (40, 40)):
                d1, id1 = np.empty(k, np.float32), np.empty(k, np.uint64)
                rows1, info1 = np.empty(k, np.int32), np.zeros(4, np.int64)
                box = g.visited()
                box[1] = gk.search_one(q, metric == "cosine", x, C, cq, g.links0, g.links_up, g.upper_slot, g.ep,
                                       g.max_level, ef, allowed, len(x), mcode, box[0], box[1], ids, share >= 0,
                                       share, d1, id1, rows1, info1)  # fmt: skip
                d2 = np.empty(k, np.float32)
                if allowed_share is None:
                    r = gk.search_ctx(q, ctx, d2, work, ef)
                else:
                    r = gk.search_ctx_filtered(q, ctx, allowed, d2, work, ef, share)
                tags.append(int(work[gk.WORK_TAG]))
                assert work[: gk.WORK_INFO].tolist() == info1.tolist()
                n = int(info1[1])
                assert r & gk.FOUND_MASK == n > 0 and not r & gk.FLAG_BIG
                assert r >> gk.ND_SHIFT == info1[0] and bool(r & gk.FLAG_PLAIN) == bool(info1[3])
                assert d2[:n].tobytes() == d1[:n].tobytes()
                assert work[gk.WORK_IDS : gk.WORK_IDS + n].tolist() == id1[:n].tolist()
                assert work[gk.WORK_IDS + kmax : gk.WORK_IDS + kmax + n].tolist() == rows1[:n].tolist()
    assert tags == list(range(1, len(tags) + 1))  # one new tag a walk, kept in work
    ids[::3] = np.uint64(STR_SENTINEL)  # a third of the points have string ids, one an id past int64
    ids[1] = np.uint64(2**63 + 5)
    q = x[1] + np.float32(0.001)
    r = gk.search_ctx(q, ctx, np.empty(20, np.float32), work, 30)
    got = work[gk.WORK_IDS : gk.WORK_IDS + (r & gk.FOUND_MASK)].view(np.uint64)
    assert r & gk.FOUND_MASK == 20 and r & gk.FLAG_BIG and got[0] == 2**63 + 5
    assert np.sum(got == np.uint64(STR_SENTINEL)) > 0
    bad = np.full(12, np.nan, np.float32)
    assert gk.search_ctx(bad, ctx, np.empty(3, np.float32), work, 8) == gk.NOT_SEARCHED
    small = np.zeros(len(x) - 1, np.uint16)
    other = gk.new_work(kmax, small)
    before = other.copy()
    assert gk.search_ctx(q, ctx, np.empty(3, np.float32), other, 8) == gk.SMALL_VISITED
    assert not small.any() and np.array_equal(other, before)  # nothing walked, nothing written
    with pytest.raises(ValueError, match="C-contiguous"):
        gk.graph_ctx(x[:, :6], C, cq, g.links0, g.links_up, g.upper_slot, ids, live, g.ep, g.max_level, len(x), mcode,
                     False)  # fmt: skip
    with pytest.raises(ValueError, match="uint64"):
        gk.graph_ctx(x, C, cq, g.links0, g.links_up, g.upper_slot, ids.astype(np.int64), live, g.ep, g.max_level,
                     len(x), mcode, False)  # fmt: skip
    with pytest.raises(ValueError, match="uint8"):
        gk.graph_ctx(x, C, cq, g.links0, g.links_up, g.upper_slot, ids, live.view(bool), g.ep, g.max_level, len(x),
                     mcode, False)  # fmt: skip
    with pytest.raises(ValueError, match="as wide as the vectors"):
        gk.graph_ctx(x, C[:, :5].copy(), cq, g.links0, g.links_up, g.upper_slot, ids, live, g.ep, g.max_level, len(x),
                     mcode, False)  # fmt: skip
    with pytest.raises(ValueError, match="uint16"):
        gk.new_work(kmax, np.zeros(len(x), np.uint32))


def test_searches_during_one_point_upserts_stay_whole(tmp_path):
    """Search threads on the fast path while a writer in the same process links one point per transaction into the
    live graph: every result holds k distinct ids of committed points, never a row the writer is still linking."""
    db = vecdb.open(tmp_path / "db")
    col, x = _col(db, "l2", n=800, index_threshold=0, payload=False)
    rng = np.random.default_rng(5)
    new = rng.standard_normal((300, DIM)).astype(np.float32)
    committed = set(range(800))
    rngs = [np.random.default_rng(seed) for seed in range(3)]

    def write():
        for i in range(300):
            col.upsert([10_000 + i], new[i : i + 1])
            committed.add(10_000 + i)  # after the commit returned

    def read(i):
        r = rngs[i]
        seen_before = set(committed)
        q = new[r.integers(300)] if r.random() < 0.5 else x[r.integers(800)]
        hits = col.search("v", q, k=10, with_payload=False)
        assert len(hits.ids) == 10 and len(set(hits.ids)) == 10, hits.ids
        assert set(hits.ids) <= seen_before | set(committed), hits.ids  # only points some commit made

    run_threads(write, read, 3)
    assert col.search("v", new[-1], k=1).ids == [10_299]
    db.close()


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_filtered_single_queries_match_the_general_path(tmp_path, metric, monkeypatch):
    """Filters the planner walks take the fast path's filtered walk (two-hop or plain, as the general planner would
    pick); filters it scans exactly, or that match nothing, go to the general path. Results, scores and explain
    agree either way."""
    db = vecdb.open(tmp_path / "db")
    col, x = _col(db, metric, n=20_000)
    plans = CountPlans(monkeypatch)
    rng = np.random.default_rng(3)
    seen = {"fast": 0, "general": 0}
    walks = set()
    for f in (F.range_("g", gte=1), F.isin("g", [0, 1, 2]), F.eq("g", 4), F.eq("g", 99), F.eq("g", 2) & F.eq("g", 3)):
        for i in range(10):
            q = rng.standard_normal(DIM).astype(np.float32)
            params = None if i % 2 else SearchParams(ef=[10, 40, 120][i % 3])
            before = plans.calls
            one = col.search("v", q, k=10, filter=f, params=params)
            fast = plans.calls == before
            batch = col.search("v", q[None], k=10, filter=f, params=params)[0]
            same_hits(one, batch)
            assert fast == batch.explain["path"].startswith("hnsw"), batch.explain  # fast exactly where it walks
            seen["fast" if fast else "general"] += 1
            if fast:
                assert one.explain["path"] == "hnsw_filtered" and len(one.ids) == 10
                walks.add(one.explain["walk"])
    assert seen["fast"] >= 20 and seen["general"] >= 20, seen
    assert "two_hop" in walks
    with pytest.raises(vecdb.InvalidArgument, match="undeclared"):
        col.search("v", x[0], k=10, filter=F.eq("nope", 1))
    db.close()
