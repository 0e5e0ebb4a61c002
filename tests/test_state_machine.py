"""Hypothesis state machine: random upsert/delete/search/compact/reopen against a plain-dict model."""

import shutil
import tempfile

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import vecdb

DIM = 4
ID_POOL = st.one_of(st.integers(0, 40), st.sampled_from(["a", "b", "c", "ü", "x" * 256]), st.just(2**64 - 1))
VEC = st.lists(st.floats(-100, 100, width=32), min_size=DIM, max_size=DIM)


class Engine(RuleBasedStateMachine):
    @initialize()
    def setup(self):
        self.dir = tempfile.mkdtemp(prefix="vecdb-sm-")
        self.db = vecdb.open(self.dir, map_size=1 << 20)
        self.col = self.db.create_collection("c", vectors={"v": vecdb.Dense(DIM, "l2")}, payload={"n": "integer"})
        self.model: dict = {}

    def teardown(self):
        self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(items=st.dictionaries(ID_POOL, st.tuples(VEC, st.integers(-5, 5)), min_size=1, max_size=8))
    def upsert(self, items):
        ids = list(items)
        vecs = np.array([v for v, _ in items.values()], np.float32)
        self.col.upsert(ids, vecs, [{"n": n} for _, n in items.values()])
        for i, (v, n) in items.items():
            self.model[i] = (np.array(v, np.float32), n)

    @rule(ids=st.lists(ID_POOL, max_size=6))
    def delete(self, ids):
        expected = len({i for i in ids if i in self.model})
        assert self.col.delete(ids) == expected
        for i in ids:
            self.model.pop(i, None)

    @precondition(lambda self: self.model)
    @rule(q=VEC, k=st.integers(1, 6))
    def search(self, q, k):
        k = min(k, len(self.model))
        q = np.array(q, np.float32)
        hits = self.col.search("v", q, k=k)
        ids = list(self.model)
        d = np.array([np.sqrt(((self.model[i][0] - q) ** 2).sum()) for i in ids])
        expect = np.sort(d)[:k]
        np.testing.assert_allclose(hits.scores, expect, rtol=1e-4, atol=1e-3)
        for hid, p in zip(hits.ids, hits.payloads):
            assert p == {"n": self.model[hid][1]}

    @rule()
    def compact(self):
        self.col.compact()
        assert self.col.info()["dead_rows"] == 0

    @rule()
    def reopen(self):
        self.db.close()
        self.db = vecdb.open(self.dir)
        self.col = self.db["c"]

    @invariant()
    def counts_and_contents_match(self):
        if not hasattr(self, "col"):
            return
        assert self.col.count() == len(self.model)
        page = self.col.scroll(limit=1000, with_vectors=True)
        got = {p.id: p for p in page.points}
        assert set(got) == set(self.model)
        for i, p in got.items():
            np.testing.assert_array_equal(p.vectors["v"], self.model[i][0])


TestEngine = Engine.TestCase
TestEngine.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
