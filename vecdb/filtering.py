"""Filters -> row masks, from the payload index, with an LRU cache per snapshot.

`allowed_rows` returns the uint8 mask the kernels take (filter AND not deleted) and its exact count, which is
the cardinality the planner uses. Masks are cached by (filter, epoch, generation): a repeated filter (a tenant,
a category) costs nothing until the next write.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from . import filters as F
from .index.runtime import VectorCache
from .payload_index import PayloadIndex
from .schema import PayloadType
from .storage.keys import State

CACHE_SIZE = 64


class FilterEvaluator:
    def __init__(self, index: PayloadIndex) -> None:
        self.index = index
        self.caches = {id(c): VectorCache(c) for c in index.columns()}
        self._lru: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def column(self, txn, blocks, st: State, col) -> np.ndarray:
        return self.caches[id(col)].get(txn, blocks, st)[: st.next_row, 0]

    def allowed_rows(self, txn, tables, st: State, f: F.Filter, live: np.ndarray) -> tuple[np.ndarray, int]:
        key = (f, st.epoch, st.generation)
        with self._lock:
            hit = self._lru.get(key)
            if hit is not None:
                self._lru.move_to_end(key)
                return hit
        mask = self._eval(txn, tables, st, f)
        allowed = (mask & live.astype(bool)).view(np.uint8)
        out = (allowed, int(np.count_nonzero(allowed)))
        with self._lock:
            self._lru[key] = out
            while len(self._lru) > CACHE_SIZE:
                self._lru.popitem(last=False)
        return out

    def _eval(self, txn, tables, st: State, f: F.Filter) -> np.ndarray:
        n = st.next_row
        if isinstance(f, F.And):
            out = self._eval(txn, tables, st, f.filters[0])
            for g in f.filters[1:]:
                out &= self._eval(txn, tables, st, g)
            return out
        if isinstance(f, F.Or):
            out = self._eval(txn, tables, st, f.filters[0])
            for g in f.filters[1:]:
                out |= self._eval(txn, tables, st, g)
            return out
        if isinstance(f, F.Not):
            return ~self._eval(txn, tables, st, f.filter)
        if isinstance(f, F.Ne):
            return ~self._eval(txn, tables, st, F.Eq(f.field, f.value))
        if isinstance(f, F.NotIn):
            return ~self._eval(txn, tables, st, F.In(f.field, f.values))
        fc = self.index.fields[f.field]
        t = fc.type
        blocks, aux = tables["block"], tables["aux"]
        if t is PayloadType.KEYWORD_SET:
            if isinstance(f, F.Exists):
                return self.column(txn, blocks, st, fc.present).astype(bool)
            values = (f.value,) if isinstance(f, F.Eq) else f.values
            masks = [
                self.index.postings_mask(txn, aux, f.field, self.index.lookup(txn, aux, f.field, v), n) for v in values
            ]
            if isinstance(f, F.ContainsAll):
                return np.logical_and.reduce(masks)
            return np.logical_or.reduce(masks)
        col = self.column(txn, blocks, st, fc.values)
        if t is PayloadType.KEYWORD:
            if isinstance(f, F.Exists):
                return col != 0
            values = (f.value,) if isinstance(f, F.Eq) else f.values
            ids = [i for i in (self.index.lookup(txn, aux, f.field, v) for v in values) if i]
            if not ids:
                return np.zeros(n, bool)
            return col == ids[0] if len(ids) == 1 else np.isin(col, ids)
        if t is PayloadType.BOOLEAN:
            if isinstance(f, F.Exists):
                return col != 0
            values = (f.value,) if isinstance(f, F.Eq) else f.values
            return np.isin(col, [2 if v else 1 for v in values])
        present = ~np.isnan(col) if t is PayloadType.FLOAT else self.column(txn, blocks, st, fc.present).astype(bool)
        if isinstance(f, F.Exists):
            return present
        if isinstance(f, F.Range):
            out = present.copy()
            if f.gt is not None:
                out &= col > f.gt
            if f.gte is not None:
                out &= col >= f.gte
            if f.lt is not None:
                out &= col < f.lt
            if f.lte is not None:
                out &= col <= f.lte
            return out
        values = (f.value,) if isinstance(f, F.Eq) else f.values
        return present & (col == values[0] if len(values) == 1 else np.isin(col, values))
