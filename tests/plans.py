"""Helpers of the fast-path tests: count the general planner's runs, compare two Hits bit for bit."""

import numpy as np

import vecdb.collection as collection_module


class CountPlans:
    """Counts calls of the general planner (dense_search) made by Collection.search."""

    def __init__(self, monkeypatch):
        self.calls = 0
        real = collection_module.dense_search

        def counted(*a, **kw):
            self.calls += 1
            return real(*a, **kw)

        monkeypatch.setattr(collection_module, "dense_search", counted)


def same_hits(a, b):
    assert a.ids == b.ids
    assert a.scores.dtype == b.scores.dtype and np.array_equal(a.scores, b.scores)  # bit for bit
    assert a.payloads == b.payloads
    assert a.explain == b.explain
