"""Filtered search: semantics against the plain-Python evaluator (Hypothesis), completeness, planner, errors."""

import datetime as dt

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vecdb
from vecdb import filters as F
from vecdb.params import HNSWParams, SearchParams

SCHEMA = {"kw": "keyword", "n": "integer", "x": "float", "ok": "boolean", "tags": "keyword_set", "at": "datetime"}
TYPES = vecdb.CollectionSchema(vectors={"v": vecdb.Dense(4)}, payload=SCHEMA).payload
KW = ["a", "b", "c", "é"]
TAGS = ["red", "green", "blue"]


def _random_payload(rng) -> dict:
    """A payload with each field present about 70% of the time (the missing cases matter for ne / not_in)."""
    p = {}
    if rng.random() < 0.7:
        p["kw"] = KW[rng.integers(len(KW))]
    if rng.random() < 0.7:
        p["n"] = int(rng.integers(-3, 4))
    if rng.random() < 0.7:
        p["x"] = round(float(rng.uniform(-2, 2)), 1)
    if rng.random() < 0.7:
        p["ok"] = bool(rng.random() < 0.5)
    if rng.random() < 0.7:
        p["tags"] = [TAGS[i] for i in rng.choice(3, size=rng.integers(0, 4), replace=False)]
    if rng.random() < 0.7:
        p["at"] = int(rng.integers(0, 6))
    return p


def leaf_st():
    return st.one_of(
        st.builds(F.eq, st.just("kw"), st.sampled_from(KW + ["zz"])),
        st.builds(F.ne, st.just("kw"), st.sampled_from(KW)),
        st.builds(F.isin, st.just("kw"), st.lists(st.sampled_from(KW + ["zz"]), min_size=1, max_size=3)),
        st.builds(F.not_in, st.just("kw"), st.lists(st.sampled_from(KW), min_size=1, max_size=2)),
        st.builds(F.eq, st.just("n"), st.integers(-3, 3)),
        st.builds(F.isin, st.just("n"), st.lists(st.integers(-3, 3), min_size=1, max_size=3)),
        st.builds(lambda lo, hi: F.range_("n", gte=lo, lt=hi), st.integers(-4, 4), st.integers(-4, 4)),
        st.builds(lambda lo: F.range_("x", gt=lo), st.floats(-2, 2).map(lambda v: round(v, 1))),
        st.builds(lambda hi: F.range_("x", lte=hi), st.integers(-2, 2)),
        st.builds(F.eq, st.just("x"), st.sampled_from([0.0, 0.5, -1.0])),
        st.builds(F.eq, st.just("ok"), st.booleans()),
        st.builds(F.ne, st.just("ok"), st.booleans()),
        st.builds(F.contains_any, st.just("tags"), st.lists(st.sampled_from(TAGS + ["pink"]), min_size=1, max_size=2)),
        st.builds(F.contains_all, st.just("tags"), st.lists(st.sampled_from(TAGS), min_size=1, max_size=2)),
        st.builds(F.eq, st.just("tags"), st.sampled_from(TAGS)),
        st.builds(F.not_in, st.just("tags"), st.lists(st.sampled_from(TAGS), min_size=1, max_size=2)),
        st.builds(lambda lo: F.range_("at", gte=lo), st.integers(0, 5)),
        st.builds(F.exists, st.sampled_from(list(SCHEMA))),
    )


filter_st = st.recursive(
    leaf_st(),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda fs: F.and_(*fs)),
        st.lists(children, min_size=1, max_size=3).map(lambda fs: F.or_(*fs)),
        children.map(F.not_),
    ),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    """60 points with random payloads (deterministic), some deleted, some replaced."""
    rng = np.random.default_rng(3)
    path = tmp_path_factory.mktemp("filters") / "db"
    db = vecdb.open(path)
    col = db.create_collection(
        "c", vectors={"v": vecdb.Dense(4, "l2", index=HNSWParams(index_threshold=20))}, payload=SCHEMA
    )
    payloads = [_random_payload(rng) for _ in range(60)]
    x = rng.normal(size=(60, 4)).astype(np.float32)
    col.upsert(list(range(60)), x, payloads)
    col.delete([3, 7, 11])
    col.upsert([5], x[5:6] + 1, [{"kw": "b", "tags": ["red"]}])
    model = {i: payloads[i] for i in range(60) if i not in (3, 7, 11)}
    model[5] = {"kw": "b", "tags": ["red"]}
    yield col, model
    db.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(f=filter_st)
def test_exact_filtered_search_returns_exactly_the_matching_points(populated, f):
    col, model = populated
    vf = F.validate(f, TYPES)
    expect = {i for i, p in model.items() if F.matches(vf, vecdb.payload.normalize(p, TYPES, "t"), TYPES)}
    hits = col.search("v", np.zeros(4), k=100, filter=f, params=SearchParams(exact=True))
    assert set(hits.ids) == expect
    assert hits.explain["estimate"] == len(expect)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(f=filter_st)
def test_graph_filtered_search_returns_min_k_matching(populated, f):
    col, model = populated
    vf = F.validate(f, TYPES)
    expect = {i for i, p in model.items() if F.matches(vf, vecdb.payload.normalize(p, TYPES, "t"), TYPES)}
    hits = col.search("v", np.ones(4), k=5, filter=f)
    assert len(hits) == min(5, len(expect)) and set(hits.ids) <= expect


def _word_collection(db, n=6000, dim=16, threshold=1000):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    col = db.create_collection(
        "w",
        vectors={"v": vecdb.Dense(dim, "l2", index=HNSWParams(index_threshold=threshold))},
        payload={"bucket": "integer", "kind": "keyword"},
    )
    col.upsert(list(range(n)), x, [{"bucket": i % 1000, "kind": "even" if i % 2 == 0 else "odd"} for i in range(n)])
    return col, x


@pytest.mark.parametrize("lo,hi", [(0, 1), (0, 10), (0, 100), (0, 500), (0, 1000)])
def test_every_selectivity_gives_k_correct_results(db, lo, hi):
    col, x = _word_collection(db, n=20_000, threshold=5000)
    q = np.random.default_rng(1).normal(size=(20, 16)).astype(np.float32)
    f = F.range_("bucket", gte=lo, lt=hi)
    exact = col.search("v", q, k=10, filter=f, params=SearchParams(exact=True))
    found = col.search("v", q, k=10, filter=f)
    match = np.array([i for i in range(len(x)) if lo <= i % 1000 < hi])  # 20 .. 20,000 points
    want = min(10, len(match))
    recall = np.mean([len(set(a.ids) & set(b.ids)) / want for a, b in zip(found, exact)])
    assert recall >= 0.9, f"recall {recall:.3f} at selectivity {(hi - lo) / 1000}"
    for h in found:
        assert len(h) == min(10, len(match)) and all(lo <= i % 1000 < hi for i in h.ids)
    plan = found[0].explain
    assert plan["estimate"] == len(match)
    from vecdb.search import DEFAULT_EF, EXACT_SELECTIVITY, WALK_COST_PER_EF

    s = len(match) / len(x)
    ef = int(DEFAULT_EF * min(4.0, 1.0 + 0.1 / s))
    exact_plan = len(match) <= WALK_COST_PER_EF * ef or s < EXACT_SELECTIVITY
    expected = "exact_scan" if exact_plan else "hnsw_filtered" if s < 1 else "hnsw"
    assert plan["path"].startswith(expected), (s, plan)


def test_anti_correlated_filter(db):
    # matching points are the ones farthest from the query
    col, x = _word_collection(db)
    q = np.zeros(16, np.float32)
    far = np.argsort(-np.linalg.norm(x, axis=1))[:1500]
    col2 = db.create_collection(
        "far", vectors={"v": vecdb.Dense(16, "l2", index=HNSWParams(index_threshold=1000))}, payload={"far": "boolean"}
    )
    flags = np.zeros(len(x), bool)
    flags[far] = True
    col2.upsert(list(range(len(x))), x, [{"far": bool(f)} for f in flags])
    f = F.eq("far", True)
    exact = col2.search("v", q, k=10, filter=f, params=SearchParams(exact=True))
    found = col2.search("v", q, k=10, filter=f)
    assert set(found.ids) == set(exact.ids) and all(flags[i] for i in found.ids)


def test_filters_survive_reopen_and_compaction(tmp_path):
    path = tmp_path / "db"
    with vecdb.open(path) as db:
        col, x = _word_collection(db, n=3000)
        col.delete(list(range(0, 3000, 3)))
        col.compact()
        f = F.eq("kind", "even") & F.range_("bucket", lt=100)
        before = col.search("v", x[:5], k=10, filter=f, params=SearchParams(exact=True))
    with vecdb.open(path) as db:
        col = db["w"]
        after = col.search("v", x[:5], k=10, filter=f, params=SearchParams(exact=True))
        assert [h.ids for h in after] == [h.ids for h in before]
        for h in after:
            assert all(i % 2 == 0 and i % 1000 < 100 and i % 3 != 0 for i in h.ids)
        col.upsert([99_999], x[:1], [{"kind": "even", "bucket": 5}])
        assert 99_999 in col.search("v", x[0], k=3, filter=f).ids


def test_empty_match_returns_no_hits(db):
    col, _ = _word_collection(db, n=500)
    hits = col.search("v", np.zeros(16), k=5, filter=F.eq("kind", "neither"))
    assert len(hits) == 0 and hits.explain["path"] == "empty" and hits.explain["estimate"] == 0


@pytest.mark.parametrize(
    "f,message",
    [
        (F.eq("nope", 1), "undeclared payload field 'nope'"),
        (F.eq("kw", 1), "wrong type"),
        (F.eq("n", "1"), "wrong type"),
        (F.eq("n", True), "wrong type"),
        (F.eq("ok", 1), "wrong type"),
        (F.isin("kw", []), "empty value list"),
        (F.range_("kw", gt=1), "ranges need integer, float or datetime"),
        (F.range_("n"), "needs at least one of"),
        (F.range_("n", gt=1, gte=2), "not both"),
        (F.range_("x", lt=float("nan")), "not a finite number"),
        (F.contains_any("kw", ["a"]), "applies to keyword_set"),
        (F.And(()), "needs at least one filter"),
        ({"eq": {"field": "kw", "value": "a"}}, "expected a filter"),
    ],
)
def test_bad_filters_clear_errors(db, f, message):
    col = db.create_collection("c", vectors={"v": vecdb.Dense(4)}, payload=SCHEMA)
    col.upsert([1], np.ones((1, 4)))
    with pytest.raises(vecdb.InvalidArgument, match=message):
        col.search("v", np.ones(4), k=1, filter=f)


def test_equal_filter_objects_are_validated_once_and_lookalikes_still_fail(db, monkeypatch):
    """Collection._valid remembers validated filters by repr: a new but equal filter object per query is not
    validated again, while values equal under == but of another type (1, 1.0, True) are checked on their own."""
    col = db.create_collection("c", vectors={"v": vecdb.Dense(4)}, payload=SCHEMA)
    col.upsert([1, 2], np.ones((2, 4)), [{"n": 1}, {"n": 2}])
    calls = []
    real = F.validate
    monkeypatch.setattr(F, "validate", lambda f, schema: calls.append(f) or real(f, schema))
    for _ in range(5):
        assert col.search("v", np.ones(4), k=2, filter=F.eq("n", 1)).ids == [1]
    assert len(calls) == 1
    for lookalike in (F.eq("n", True), F.eq("n", 1.0)):
        with pytest.raises(vecdb.InvalidArgument, match="wrong type"):
            col.search("v", np.ones(4), k=1, filter=lookalike)
    assert len(calls) == 3


def test_deep_nesting_and_dict_form_errors():
    deep = F.eq("kw", "a")
    for _ in range(F.MAX_DEPTH + 2):
        deep = F.not_(deep)
    with pytest.raises(vecdb.InvalidArgument, match="nested deeper"):
        F.validate(deep, TYPES)
    for bad in [{"eq": 1}, {"what": {"field": "kw"}}, {"and": {}}, {"in": {"field": "kw", "values": "a"}}, {}]:
        with pytest.raises(vecdb.InvalidArgument):
            F.from_dict(bad)
    f = F.and_(F.eq("kw", "a"), F.not_(F.range_("n", gte=1)), F.or_(F.exists("x"), F.contains_all("tags", ["red"])))
    assert F.from_dict(F.to_dict(f)) == f


def test_datetime_filters_accept_datetimes(db):
    col = db.create_collection("d", vectors={"v": vecdb.Dense(2)}, payload={"at": "datetime"})
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    col.upsert([1, 2, 3], np.ones((3, 2)), [{"at": t0}, {"at": t0 + dt.timedelta(days=1)}, {}])
    hits = col.search("v", np.ones(2), k=3, filter=F.range_("at", gt=t0))
    assert hits.ids == [2]


@pytest.mark.parametrize("selectivity", [0.001, 0.01, 0.1, 0.5])
def test_recall_floor_per_selectivity_glove(tmp_path, selectivity):
    """glove-20k, filtered by the words' vocabulary rank (real attribute), default search parameters."""
    from conftest import data_path
    from floors import floor

    train = np.load(data_path("glove-6b-50d-angular", "train_100k.npy"))[:20_000]
    rank_all = np.load(data_path("glove-6b-50d-angular", "train_100k_row_ids.npy"))[:20_000]
    rank = np.argsort(np.argsort(rank_all))
    test = np.load(data_path("glove-6b-50d-angular", "test.npy"))[:200]
    with vecdb.open(tmp_path / "db") as db:
        col = db.create_collection("g", vectors={"v": vecdb.Dense(50, "cosine")}, payload={"rank": "integer"})
        col.upsert(np.arange(len(train)), train, [{"rank": int(r)} for r in rank])
        col.build_index()
        lo = 5000
        f = F.range_("rank", gte=lo, lt=lo + int(selectivity * len(train)))
        exact = col.search("v", test, k=10, filter=f, params=SearchParams(exact=True), with_payload=False)
        found = col.search("v", test, k=10, filter=f, with_payload=False)
    xs = train / np.linalg.norm(train, axis=1, keepdims=True)
    qs = test / np.linalg.norm(test, axis=1, keepdims=True)
    rec = []
    for i, (a, b) in enumerate(zip(found, exact)):
        kth = (xs[b.ids] @ qs[i]).min()
        rec.append(min((xs[a.ids] @ qs[i] >= kth - 1e-6).sum(), len(b.ids)) / max(len(b.ids), 1))
        assert len(a.ids) == len(b.ids)
    r = float(np.mean(rec))
    print(f"selectivity {selectivity}: recall {r:.4f} via {found[0].explain['path']}")
    assert r >= floor("hnsw", "none", f"glove-20k-filter-{selectivity}"), f"recall {r:.4f} ({found[0].explain})"


def test_correlated_filter_takes_the_plain_walk_and_keeps_its_recall(tmp_path):
    """Four well-separated clusters, a filter on the cluster label. A query inside its own cluster filtered to that
    cluster (the filter agrees with its neighbourhood) walks plainly; the same query filtered to another cluster,
    and a filter on a quarter of random rows, walk two hops; a filter on half of the rows walks plainly. Every
    result is allowed and recall@10 against exact filtered search stays high on both walks."""
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((4, 16)).astype(np.float32) * 4
    label = np.repeat(np.arange(4), 2000)  # 2,000 rows a cluster: above the planner's exact-scan size
    x = centres[label] + rng.standard_normal((8000, 16)).astype(np.float32)
    coin = rng.random(8000) < 0.25
    half = rng.random(8000) < 0.5
    db = vecdb.open(tmp_path / "db")
    col = db.create_collection(
        "c",
        vectors={"v": vecdb.Dense(16, "l2", index=HNSWParams(index_threshold=1))},
        payload={"label": "integer", "coin": "boolean", "half": "boolean"},
    )
    pays = [{"label": int(a), "coin": bool(b), "half": bool(h)} for a, b, h in zip(label, coin, half)]
    col.upsert(np.arange(8000), x, pays)
    col.build_index(progress=False)
    own = np.arange(40) % 4
    queries = centres[own] + rng.standard_normal((40, 16)).astype(np.float32)
    cases = {
        "own": lambda i: (F.eq("label", int(own[i])), label == own[i]),
        "other": lambda i: (F.eq("label", int((own[i] + 1) % 4)), label == (own[i] + 1) % 4),
        "coin": lambda i: (F.eq("coin", True), coin),
        "half": lambda i: (F.eq("half", True), half),  # a loose filter: every query walks plainly
    }
    for case, make in cases.items():
        recalls, walks = [], []
        for i, q in enumerate(queries):
            f, mask = make(i)
            hits = col.search("v", q, k=10, filter=f, params=SearchParams(ef=16), with_payload=False)
            assert all(mask[j] for j in hits.ids), case
            d = np.sum((x - q) ** 2, axis=1)
            d[~mask] = np.inf
            recalls.append(len(set(np.argsort(d)[:10].tolist()) & set(hits.ids)) / 10)
            assert hits.explain["path"].startswith("hnsw_filtered"), hits.explain  # (+exact_scan: completeness)
            walks.append(hits.explain["walk"])
        assert np.mean(recalls) >= 0.9, (case, np.mean(recalls))
        if case == "own":
            assert walks.count("plain") >= 36, walks
        elif case == "half":
            assert walks.count("plain") == 40, walks
        else:  # a few entries have so few neighbours that a quarter of random rows can cover 3/4 of them
            assert walks.count("two_hop") >= 36, (case, walks)
