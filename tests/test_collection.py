"""CRUD, search and maintenance through the embedded API."""

import numpy as np
import pytest
from reference import exact_topk

import vecdb
from vecdb import Dense


def _col(db, metric="cosine", dim=8, **kw):
    return db.create_collection("c", vectors={"v": Dense(dim, metric)}, **kw)


def test_create_list_get_drop(db):
    c = db.create_collection("a", vectors={"v": Dense(4)}, payload={"lang": "keyword"})
    db.create_collection("b", vectors={"v": Dense(4, "l2"), "w": Dense(2, "dot")})
    assert db.list_collections() == ["a", "b"]
    assert db.get_collection("a").schema == c.schema
    assert db["b"].schema.vectors["w"] == Dense(2, "dot")
    assert db.has_collection("a") and not db.has_collection("zz")
    assert db.drop_collection("a") is True
    assert db.list_collections() == ["b"]
    assert db.drop_collection("a", missing_ok=True) is False
    with pytest.raises(vecdb.NotFound):
        c.count()  # a handle to a dropped collection fails clearly
    again = db.create_collection("a", vectors={"v": Dense(4)})
    assert again.count() == 0 and again.uid != c.uid


def test_exist_ok(db):
    c = db.create_collection("a", vectors={"v": Dense(4)})
    assert db.create_collection("a", vectors={"v": Dense(4)}, exist_ok=True).uid == c.uid
    with pytest.raises(vecdb.AlreadyExists):
        db.create_collection("a", vectors={"v": Dense(5)}, exist_ok=True)


def test_upsert_get_delete_count(db, rng):
    c = _col(db, payload={"n": "integer"})
    x = rng.normal(size=(50, 8)).astype(np.float32)
    ids = list(range(1000, 1050))
    assert c.upsert(ids, {"v": x}, [{"n": i, "extra": [1, "a"]} for i in range(50)]) == 50
    assert c.count() == 50
    pts = c.get([1003, 5, 1001], with_vectors=True)
    assert [p.id for p in pts] == [1003, 1001]
    assert pts[0].payload == {"n": 3, "extra": [1, "a"]}
    np.testing.assert_allclose(pts[0].vectors["v"], x[3] / np.linalg.norm(x[3]), rtol=1e-6)
    assert c.delete([1003, 1003, 7]) == 1
    assert c.count() == 49 and c.get([1003]) == []


def test_upsert_replaces(db, rng):
    c = _col(db, metric="l2", dim=3)
    c.upsert(["a", "b"], np.ones((2, 3)), [{"x": 1}, {"x": 2}])
    c.upsert(["a"], np.zeros((1, 3)), [{"x": 9}])
    assert c.count() == 2
    (a,) = c.get(["a"], with_vectors=True)
    assert a.payload == {"x": 9} and (a.vectors["v"] == 0).all()
    hits = c.search("v", [0, 0, 0], k=2)
    assert hits.ids == ["a", "b"] and hits.scores[0] == 0.0
    assert hits.scores[1] == pytest.approx(np.sqrt(3), rel=1e-6)


def test_mixed_id_types_and_scroll_order(db, rng):
    c = _col(db, dim=2)
    ids = [5, "b", 2**64 - 1, "a", 0, "é"]
    c.upsert(ids, rng.normal(size=(6, 2)) + 3)
    seen, offset = [], None
    while True:
        page = c.scroll(limit=4, offset=offset)
        seen += [p.id for p in page.points]
        if page.next_offset is None:
            break
        offset = page.next_offset
    assert seen == [0, 5, 2**64 - 1, "a", "b", "é"]


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_search_matches_reference(db, rng, metric):
    c = _col(db, metric=metric, dim=16)
    x = rng.normal(size=(500, 16)).astype(np.float32)
    c.upsert(np.arange(500), x)
    c.delete(list(range(0, 500, 7)))
    q = rng.normal(size=(5, 16)).astype(np.float32)
    res = c.search("v", q, k=10, with_payload=False)
    allowed = np.ones(500, np.uint8)
    allowed[::7] = 0
    xs, qs = x, q
    if metric == "cosine":
        xs = x / np.linalg.norm(x, axis=1, keepdims=True)
        qs = q / np.linalg.norm(q, axis=1, keepdims=True)
    rdist, rrows = exact_topk(qs, xs, allowed, 10, metric)
    for qi, hits in enumerate(res):
        assert hits.ids == rrows[qi].tolist()
        expect = np.sqrt(rdist[qi]) if metric == "l2" else -rdist[qi]
        np.testing.assert_allclose(hits.scores, expect, rtol=1e-4, atol=1e-5)
        assert hits.explain["path"] == "exact_scan"


def test_single_query_returns_hits_matrix_returns_list(db, rng):
    c = _col(db)
    c.upsert([1, 2, 3], rng.normal(size=(3, 8)))
    assert isinstance(c.search("v", rng.normal(size=8), k=2), vecdb.Hits)
    res = c.search("v", rng.normal(size=(4, 8)), k=2)
    assert isinstance(res, list) and len(res) == 4 and all(len(h) == 2 for h in res)
    top = res[0][0]
    assert isinstance(top, vecdb.Hit) and top.payload == {}


def test_reopen_preserves_everything(tmp_path, rng):
    path = tmp_path / "db"
    x = rng.normal(size=(300, 8)).astype(np.float32)
    with vecdb.open(path) as db:
        c = db.create_collection("c", vectors={"v": Dense(8, "l2")}, payload={"g": "keyword"})
        c.upsert(list(range(300)), x, [{"g": str(i % 3)} for i in range(300)])
        c.delete([5, 6])
        before = c.search("v", x[:3], k=5)
    with vecdb.open(path) as db:
        c = db["c"]
        assert c.count() == 298 and c.schema.payload["g"] == vecdb.PayloadType.KEYWORD
        after = c.search("v", x[:3], k=5)
        assert [h.ids for h in after] == [h.ids for h in before]
        assert c.get([7])[0].payload == {"g": "1"}


def test_compaction_reclaims_and_keeps_results(db, rng):
    c = _col(db, metric="l2", dim=4)
    x = rng.normal(size=(3000, 4)).astype(np.float32)
    c.upsert(list(range(3000)), x, [{"i": i} for i in range(3000)])
    c.delete(list(range(0, 3000, 2)))
    c.upsert([1, 3], x[:2], [{"i": "new"}, None])  # replaced points leave dead rows too
    q = rng.normal(size=(4, 4)).astype(np.float32)
    before = c.search("v", q, k=20)
    stats = c.compact()
    assert stats == {"rows_before": 3002, "rows_after": 1500, "reclaimed": 1502}
    assert c.info()["dead_rows"] == 0 and c.count() == 1500
    after = c.search("v", q, k=20)
    assert [h.ids for h in after] == [h.ids for h in before]
    assert [h.payloads for h in after] == [h.payloads for h in before]
    assert c.get([1])[0].payload == {"i": "new"} and c.get([3])[0].payload == {}
    np.testing.assert_array_equal(c.get([2999], with_vectors=True)[0].vectors["v"], x[2999])
    assert c.compact()["reclaimed"] == 0
    c.upsert([10**6], x[:1])  # appending after compaction continues densely
    assert c.info()["rows"] == 1501


def test_map_grows_on_demand(tmp_path, rng):
    with vecdb.open(tmp_path / "db", map_size=1 << 20) as db:
        c = db.create_collection("c", vectors={"v": Dense(256, "dot")})
        for b in range(8):  # 8 x 1000 x 1 KiB = 8 MiB through a 1 MiB initial map
            c.upsert(list(range(b * 1000, (b + 1) * 1000)), rng.normal(size=(1000, 256)))
        assert c.count() == 8000 and db._env.map_size >= 8 << 20


def test_storage_full_at_max_map_size(tmp_path, rng):
    with vecdb.open(tmp_path / "db", map_size=1 << 20, max_map_size=4 << 20) as db:
        c = db.create_collection("c", vectors={"v": Dense(256, "dot")})
        c.upsert(list(range(1000)), rng.normal(size=(1000, 256)))
        with pytest.raises(vecdb.StorageFull):
            c.upsert(list(range(1000, 6000)), rng.normal(size=(5000, 256)))
        assert c.count() == 1000  # nothing of the failed batch, and the database still serves
        assert len(c.search("v", rng.normal(size=256), k=3)) == 3
        c.delete(list(range(500)))
        c.upsert(list(range(1000, 1400)), rng.normal(size=(400, 256)))  # freed pages are reused
        assert c.count() == 900


def test_aliases_switch_atomically(db, rng):
    a = db.create_collection("v1", vectors={"v": Dense(2)})
    b = db.create_collection("v2", vectors={"v": Dense(2)})
    a.upsert([1], [[1, 0]])
    b.upsert([2], [[0, 1]])
    db.set_alias("live", "v1")
    assert db["live"].search("v", [1, 0], k=1).ids == [1]
    db.set_alias("live", "v2")  # re-point: readers switch in one transaction
    assert db["live"].search("v", [1, 0], k=1).ids == [2]
    assert db.list_aliases() == {"live": "v2"}
    with pytest.raises(vecdb.AlreadyExists):
        db.set_alias("v1", "v2")
    with pytest.raises(vecdb.AlreadyExists):
        db.create_collection("live", vectors={"v": Dense(2)})
    with pytest.raises(vecdb.NotFound):
        db.set_alias("x", "nope")
    db.drop_collection("v2")
    assert db.list_aliases() == {}
    with pytest.raises(vecdb.NotFound):
        db["live"]
    assert db.delete_alias("live") is False


def test_backup_is_a_consistent_openable_copy(tmp_path, rng):
    with vecdb.open(tmp_path / "db") as db:
        c = db.create_collection("c", vectors={"v": Dense(4, "l2")}, payload={"g": "keyword"})
        x = rng.normal(size=(100, 4)).astype(np.float32)
        c.upsert(list(range(100)), x, [{"g": "a"}] * 100)
        c.delete([0])
        info = db.backup(tmp_path / "copy")
        assert info["bytes"] > 0
        with pytest.raises(vecdb.AlreadyExists):
            db.backup(tmp_path / "copy")
    with vecdb.open(tmp_path / "copy") as copy:
        cc = copy["c"]
        assert cc.count() == 99
        assert cc.search("v", x[5], k=1).ids == [5]
        assert cc.get([7])[0].payload == {"g": "a"}
