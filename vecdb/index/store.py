"""LMDB persistence of one field's HNSW graph, written in the same transaction as the rows it indexes.

- level-0 lists of rows [0, n_indexed): fixed-width row blocks (like vectors), appended as rows get indexed;
- an overlay of level-0 lists that changed after their block was written (reverse links into old nodes), one key
  per row; folded back into the blocks when it grows past half the graph, so opening stays a bulk read;
- one key per node of level >= 1 holding all its upper lists;
- a meta record: n_indexed (watermark), entry point, max level, version (bumped on every graph change).
Keys live in the `aux` table under uid + b"g" + field slot.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np

from ..errors import CorruptDatabase
from ..params import HNSWParams
from ..storage.blocks import BlockArray, block_rows_for, delete_prefix
from ..storage.parsed import ParsedCache
from .hnsw import MAX_LEVEL, Changes, Graph

_ROW = struct.Struct(">I")
GRAPH_SLOT_BASE = 1000


@dataclass(frozen=True)
class GraphMeta:
    n_indexed: int = 0
    ep: int = -1
    max_level: int = -1
    version: int = 0
    overlay: int = 0
    epoch: int = 0
    walk_lo: float | None = None  # the 8-bit walk's affine map (x ~ lo + scale * code), fixed at the first build of
    walk_scale: float | None = None  # an epoch's graph; None (graphs stored before it existed): the float walk

    def walk(self) -> tuple[float | None, float | None]:
        return self.walk_lo, self.walk_scale

    def to_bytes(self) -> bytes:
        return json.dumps(self.__dict__).encode()

    @classmethod
    def from_bytes(cls, raw) -> GraphMeta:
        try:
            d = json.loads(bytes(raw))
            return cls(**{k: d[k] for k in _META_FIELDS if k in d})  # keys a later version adds are skipped
        except (ValueError, TypeError) as e:
            raise CorruptDatabase(f"graph metadata is damaged: {e}") from None


_META_FIELDS = tuple(GraphMeta.__dataclass_fields__)


class GraphStore:
    def __init__(self, uid: int, field_slot: int, params: HNSWParams) -> None:
        self.params = params
        self.m = params.m
        self.m0 = 2 * params.m
        self._prefix = struct.pack(">I", uid) + b"g" + struct.pack(">H", field_slot)
        self._meta_cache = ParsedCache(GraphMeta.from_bytes)  # every search reads the meta: parse it once
        width = self.m0 + 1
        self.level0 = BlockArray(
            uid, GRAPH_SLOT_BASE + field_slot, np.dtype(np.int32), width, block_rows_for(4 * width)
        )

    # ------------------------------------------------------------------ keys
    def _meta_key(self) -> bytes:
        return self._prefix + b"m"

    def _overlay_key(self, row: int) -> bytes:
        return self._prefix + b"o" + _ROW.pack(row)

    def _upper_key(self, row: int) -> bytes:
        return self._prefix + b"u" + _ROW.pack(row)

    # ------------------------------------------------------------------ read
    def meta(self, txn, aux) -> GraphMeta:
        raw = txn.get(self._meta_key(), db=aux)
        if raw is None:
            return GraphMeta()
        return self._meta_cache.get(raw)

    def load(self, txn, aux, blocks, metric_code: int, capacity: int) -> tuple[Graph, GraphMeta]:
        meta = self.meta(txn, aux)
        g = Graph(self.params, metric_code, capacity=max(capacity, meta.n_indexed, 1))
        n = meta.n_indexed
        for first, view in self.level0.views(txn, blocks, n):
            g.links0[first : first + view.shape[0]] = view
        with txn.cursor(db=aux) as cur:
            for kind in (b"o", b"u"):
                prefix = self._prefix + kind
                if not cur.set_range(prefix):
                    continue
                for key, val in cur:
                    key = bytes(key)
                    if not key.startswith(prefix):
                        break
                    row = _ROW.unpack(key[-4:])[0]
                    arr = np.frombuffer(val, np.int32)
                    if kind == b"o":
                        g.links0[row] = arr
                    else:
                        self._load_upper(g, row, arr)
        g.levels[:n] = np.maximum(g.levels[:n], 0)
        g.ep, g.max_level, g.n_indexed, g.n_linked = meta.ep, meta.max_level, n, n
        return g, meta

    def _load_upper(self, g: Graph, row: int, arr: np.ndarray) -> None:
        per = self.m + 1
        level = arr.size // per
        if level < 1 or level > MAX_LEVEL or arr.size % per:
            raise CorruptDatabase(f"graph upper lists of row {row} have a bad size ({arr.size} ints)")
        g._new_slots(np.array([row]), np.array([level], np.int8))
        g.links_up[g.upper_slot[row], :level] = arr.reshape(level, per)
        g.levels[row] = level

    # ------------------------------------------------------------------ write
    def save(self, txn, aux, blocks, g: Graph, changes: Changes, before: GraphMeta, walk: tuple) -> GraphMeta:
        """Persist an insert: new rows' level-0 lists as blocks, changed older rows in the overlay, upper lists.
        walk: the 8-bit walk's (lo, scale) to store (index_rows keeps before's, or fits the first)."""
        start, end = before.n_indexed, g.n_indexed
        if end > start:
            self.level0.write_rows(txn, blocks, start, g.links0[start:end])
        old = sorted(r for r in changes.level0 if r < start)
        overlay = before.overlay
        if old:
            with txn.cursor(db=aux) as cur:
                keys = [self._overlay_key(r) for r in old]
                existing = len(cur.getmulti(keys))
                cur.putmulti([(k, g.links0[r].tobytes()) for k, r in zip(keys, old)])
            overlay += len(old) - existing
        self._put_upper(txn, aux, g, changes.upper)
        meta = GraphMeta(end, g.ep, g.max_level, before.version + 1, overlay, before.epoch, *walk)
        if overlay > max(end // 2, 50_000):
            meta = self._fold(txn, aux, blocks, g, meta)
        txn.put(self._meta_key(), meta.to_bytes(), db=aux)
        return meta

    def _put_upper(self, txn, aux, g: Graph, rows) -> None:
        items = []
        for r in sorted(rows):
            level = int(g.levels[r])
            items.append((self._upper_key(r), g.links_up[g.upper_slot[r], :level].tobytes()))
        if items:
            with txn.cursor(db=aux) as cur:
                cur.putmulti(items)

    def _fold(self, txn, aux, blocks, g: Graph, meta: GraphMeta) -> GraphMeta:
        self.level0.write_rows(txn, blocks, 0, g.links0[: meta.n_indexed])
        delete_prefix(txn, aux, self._prefix + b"o")
        return GraphMeta(meta.n_indexed, meta.ep, meta.max_level, meta.version, 0, meta.epoch, *meta.walk())

    def rewrite(self, txn, aux, blocks, g: Graph, version: int, epoch: int, walk=(None, None)) -> GraphMeta:
        """Replace everything stored for this graph (after a repair that renumbered rows); walk: its (lo, scale)."""
        self.clear(txn, aux, blocks)
        if g.n_indexed:
            self.level0.write_rows(txn, blocks, 0, g.links0[: g.n_indexed])
        self._put_upper(txn, aux, g, np.flatnonzero(g.levels[: g.n_indexed] >= 1).tolist())
        meta = GraphMeta(g.n_indexed, g.ep, g.max_level, version, 0, epoch, *walk)
        txn.put(self._meta_key(), meta.to_bytes(), db=aux)
        return meta

    def clear(self, txn, aux, blocks) -> None:
        delete_prefix(txn, aux, self._prefix)
        self.level0.delete_all(txn, blocks)
