"""A collection: points (id, vectors per field, payload) stored in LMDB, searched by Numba kernels.

Write path: validate the whole batch first, then ONE write transaction updates ids, rows, vectors, payloads and
tombstones together. Read path: one read transaction is one consistent snapshot; vector blocks are scanned as
zero-copy views of LMDB pages.
"""

from __future__ import annotations

import copy
import json
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from . import filters as filter_ops
from . import payload as payload_codec
from .compression.binary_field import prepare_binary
from .compression.engine import CompressedField
from .compression.fast import CodeCache, HotCodes, hot_codes, plan_one, sign_fast_path
from .drift.registry import ModelRegistry, check_version
from .errors import InvalidArgument, NotFound, ResourceExhausted
from .filtering import FilterEvaluator
from .ids import STR_SENTINEL, PointId, decode_id, encode_id, encode_ids, id_values
from .index.maintain import FieldState, IndexTxn, compact_field, index_rows
from .index.runtime import FieldIndex, VectorCache
from .kernels import graph as graph_kernels
from .kernels.binary import sign_asym_search_one, sign_search_one
from .kernels.dense import to_scores
from .kernels.graph import (
    FLAG_BIG,
    FLAG_PLAIN,
    FOUND_MASK,
    ND_SHIFT,
    SMALL_VISITED,
    WORK_IDS,
    search_ctx,
    search_ctx_filtered,
)
from .multivector.field import MultiVectorField
from .params import SearchParams
from .payload_index import PayloadIndex
from .results import Hits, Point, ScrollPage
from .schema import Binary, CollectionSchema, Dense, MultiVector
from .search import HotGraph, dense_search, filtered_beam, hot_graph, plain_walk_share
from .storage import tombstones
from .storage.blocks import BlockArray, SnapshotBlocks, block_rows_for, delete_prefix
from .storage.env import DAMAGE_ERRORS
from .storage.keys import MAX_ROWS, ROW_VALUE, State, meta_key, row_key, row_keys, row_values, uid_prefix
from .storage.parsed import ParsedCache
from .vectors import prepare, prepare_queries

if TYPE_CHECKING:
    from .database import Database

ID_SLOT = 900  # block slot of the id column (vector fields use 0.., graphs 1000..)
MAX_K = 10_000
MAX_QUERIES = 10_000
_STATE = b"state"
_STR_SENTINEL = int(STR_SENTINEL)  # as a Python int: compared with ids from tolist()
_F32 = np.dtype(np.float32)  # builtin dtypes are singletons: `is` tells native float32 at once
_NDARRAY = np.ndarray
_new_hits = Hits.__new__
MAX_VALID_FILTERS = 1024  # validated filters remembered per collection (see Collection._valid)


class Collection:
    def __init__(self, database: Database, name: str, uid: int, schema: CollectionSchema, layout: Mapping):
        self._database = database
        self._env = database._env
        self._t = database._env.db
        self.name = name
        self.uid = uid
        self.schema = schema
        self._prefix = uid_prefix(uid)
        self._fields: dict[str, FieldState] = {}  # dense fields, and the hidden FDE field of each multi-vector one
        self._mv: dict[str, tuple[MultiVectorField, str]] = {}  # multi-vector field -> (runtime, its FDE field)
        self._codes: dict[str, CompressedField] = {}  # compressed dense fields -> their codes and codec
        for fname, f in schema.vectors.items():
            lay = layout[fname]
            if isinstance(f, Dense) and f.compression is not None:
                self._codes[fname] = CompressedField(uid, int(lay["slot"]), fname, f.compression, f.metric)
            if isinstance(f, Binary):
                column = BlockArray(uid, int(lay["slot"]), np.dtype(np.uint64), f.words, int(lay["block_rows"]))
                self._fields[fname] = FieldState(
                    fname, f, column, VectorCache(column), None, self._snapshot_blocks(column)
                )
                continue
            if isinstance(f, MultiVector):
                hidden, dense, slot, rows = f"{fname}#fde", f.fde_field(), int(lay["fde_slot"]), lay["fde_block_rows"]
                self._mv[fname] = (MultiVectorField(uid, int(lay["slot"]), fname, f), hidden)
            else:
                hidden, dense, slot, rows = fname, f, int(lay["slot"]), lay["block_rows"]
            column = BlockArray(uid, slot, np.dtype(np.float32), dense.dim, int(rows))
            index = FieldIndex(uid, slot, dense) if dense.index is not None else None
            self._fields[hidden] = FieldState(
                hidden, dense, column, VectorCache(column), index, self._snapshot_blocks(column)
            )
        self._columns = {name: fs.column for name, fs in self._fields.items()}
        self._models = {
            fname: ModelRegistry(uid, int(layout[fname]["slot"]), fname)
            for fname, f in schema.vectors.items()
            if isinstance(f, Dense)
        }
        self._idcol = BlockArray(uid, ID_SLOT, np.dtype(np.uint64), 1, block_rows_for(8))
        self._ids = VectorCache(self._idcol)
        self._pindex = PayloadIndex(uid, dict(schema.payload))
        self._filters = FilterEvaluator(self._pindex)
        self._cache_lock = threading.Lock()
        self._live_cache: tuple[tuple[int, int], np.ndarray] | None = None
        self._state_key = meta_key(uid, _STATE)
        self._state_cache = ParsedCache(State.unpack)
        # single-query fast paths, field -> (state, query shape, method, the SearchParams flag it needs): indexed
        # dense fields whose default plan is the graph (a compressed field keeps the graph as its default while it
        # has an index), and sign-compressed fields searched on their codes; the last hot snapshot of each
        self._one: dict[str, tuple] = {}
        for n, fs in self._fields.items():
            if n not in schema.vectors or n in self._mv:
                continue
            if fs.index is not None:
                self._one[n] = (fs, (fs.field.dim,), Collection._search_one, "walk_only")
            elif n in self._codes and sign_fast_path(self._codes[n].spec):
                self._one[n] = (fs, (fs.field.dim,), Collection._search_sign_one, "rescores_codes")
        self._hot: dict[str, HotGraph] = {}
        self._hot_codes: dict[str, HotCodes] = {}
        self._code_caches = {n: CodeCache() for n in self._codes}
        self._last_filter: tuple | None = None
        self._valid_filters: dict[str, filter_ops.Filter] = {}  # repr -> validated (see _valid)
        self._tls = threading.local()

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, {self.schema!r})"

    # ------------------------------------------------------------------ state
    def _snapshot_blocks(self, column: BlockArray) -> SnapshotBlocks:
        env = self._env
        return SnapshotBlocks(column, lambda: env.map_generation)

    def _state(self, txn) -> State:
        raw = txn.get(self._state_key, db=self._t["meta"])
        if raw is None:
            raise NotFound(f"collection {self.name!r} does not exist (it was dropped)")
        return self._state_cache.get(raw)

    def _allowed(self, txn, st: State, filter, k: int) -> tuple[np.ndarray, int]:
        """Rows a search may return (uint8 mask) and their count: live rows matching the validated filter.
        Without a filter, k beyond the number of points is an error; with one, fewer results are the answer."""
        live = self._live(txn, st)
        if filter is None:
            if k > st.live:
                raise InvalidArgument(f"k={k} exceeds the {st.live} points in collection {self.name!r}")
            return live, st.live
        return self._filters.allowed_rows(txn, self._t, st, filter, live)

    def _live(self, txn, st: State) -> np.ndarray:
        key = (st.epoch, st.generation)
        cached = self._live_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        live = tombstones.live_mask(txn, self._t["tomb"], self.uid, st.next_row)
        with self._cache_lock:
            self._live_cache = (key, live)
        return live

    def count(self) -> int:
        with self._env.read() as txn:
            return self._state(txn).live

    def info(self) -> dict[str, Any]:
        with self._env.read() as txn:
            st = self._state(txn)
        return {
            "name": self.name,
            "schema": self.schema.to_dict(),
            "points": st.live,
            "rows": st.next_row,
            "dead_rows": st.dead,
            "generation": st.generation,
        }

    # ------------------------------------------------------------------ writes
    def _prepare_vectors(self, vectors: object, n: int) -> dict[str, np.ndarray]:
        fields = self.schema.vectors
        if not isinstance(vectors, Mapping):
            if len(fields) != 1:
                raise InvalidArgument(
                    f"this collection has vector fields {sorted(fields)}: pass vectors as a dict of field -> array"
                )
            vectors = {next(iter(fields)): vectors}
        unknown = set(vectors) - set(fields)
        if unknown:
            raise InvalidArgument(f"unknown vector field(s) {sorted(unknown)}: this collection has {sorted(fields)}")
        missing = set(fields) - set(vectors)
        if missing:
            raise InvalidArgument(f"missing vectors for field(s) {sorted(missing)}: every point needs each field")
        out: dict[str, object] = {}
        for name, f in fields.items():
            if isinstance(f, MultiVector):
                mvf, hidden = self._mv[name]
                prep = mvf.prepare(vectors[name], n)
                out[name] = prep  # token sets: written as chunks
                out[hidden] = prep.fde  # their FDEs: the hidden dense field
            elif isinstance(f, Binary):
                out[name] = prepare_binary(f, vectors[name], f"vectors[{name!r}]", n=n)
            else:
                out[name] = prepare(f, vectors[name], f"vectors[{name!r}]", n=n)
        return out

    def _prepare_payloads(self, payloads: object, keys: list[bytes]) -> tuple[list[dict], list[bytes | None]]:
        """(normalised payload dicts, their stored encodings: None for empty)."""
        n = len(keys)
        if payloads is None:
            return [{}] * n, [None] * n
        if isinstance(payloads, Mapping) or not hasattr(payloads, "__len__"):
            raise InvalidArgument("payloads must be a list with one dict (or None) per id")
        if len(payloads) != n:
            raise InvalidArgument(f"{len(payloads)} payloads for {n} ids")
        docs: list[dict] = []
        out: list[bytes | None] = []
        for key, p in zip(keys, payloads):
            where = f"point {decode_id(key)!r}"
            doc = payload_codec.normalize(p, self.schema.payload, where)
            docs.append(doc)
            out.append(payload_codec.encode(doc, where) if doc else None)
        return docs, out

    def upsert(self, ids: object, vectors: object, payloads: object = None) -> int:
        """Insert or replace points; one atomic, durable transaction. Returns the number of points written.

        vectors: {field: (n, dim) array}, or a bare array when the collection has a single vector field.
        payloads: one dict (or None) per id.
        """
        keys = encode_ids(ids, unique=True)
        n = len(keys)
        if n == 0:
            return 0
        vecs = self._prepare_vectors(vectors, n)
        docs, pays = self._prepare_payloads(payloads, keys)
        idvals = id_values(keys)
        t = self._t
        itx = IndexTxn(list(self._fields.values()), extra_caches=[self._ids, *self._filters.caches.values()])

        def tx(txn) -> int:
            st = self._state(txn)
            itx.begin_attempt(st)
            first = st.next_row
            if first + n > MAX_ROWS:
                raise ResourceExhausted(f"collection {self.name!r} ran out of row ids: call compact()")
            idks = [self._prefix + key for key in keys]
            with txn.cursor(db=t["id2row"]) as cur:
                dead = [ROW_VALUE.unpack(v)[0] for _, v in cur.getmulti(idks)]
                cur.putmulti(zip(idks, row_values(first, n)))
            rks = row_keys(self.uid, first, n)
            with txn.cursor(db=t["row2id"]) as cur:
                cur.putmulti(zip(rks, keys))
            with txn.cursor(db=t["payload"]) as cur:
                cur.putmulti([(rk, p) for rk, p in zip(rks, pays) if p is not None])
            self._forget_rows(txn, dead)
            for name, arr in vecs.items():
                if name in self._mv:
                    self._mv[name][0].write(txn, t["aux"], first, arr)
                else:
                    self._columns[name].write_rows(txn, t["block"], first, arr)
            self._idcol.write_rows(txn, t["block"], first, idvals)
            self._pindex.append(txn, t["aux"], t["block"], first, docs)
            new = State(first + n, st.live + n - len(dead), st.generation + 1, st.epoch)
            self._put_state(txn, new)
            for name, cf in self._codes.items():
                cf.append(txn, t["aux"], t["block"], first, vecs[name])
                if cf.needs_training(txn, t["aux"], new.live):
                    x = self._float_rows(txn, self._fields[name], new)
                    cf.train(txn, t, x, new.next_row, sample=None, seed=0, progress=None)
            for fs in self._fields.values():
                if fs.index is not None:
                    meta = fs.index.store.meta(txn, t["aux"])
                    if new.next_row - meta.n_indexed >= fs.field.index.index_threshold:
                        index_rows(txn, t, fs, new, new.next_row, itx)
            return n

        with itx:
            return self._env.write(tx)

    def _forget_rows(self, txn, rows: list[int]) -> None:
        t = self._t
        for r in rows:
            rk = row_key(self.uid, r)
            txn.delete(rk, db=t["row2id"])
            txn.delete(rk, db=t["payload"])
        tombstones.mark_dead(txn, t["tomb"], self.uid, rows)

    def _put_state(self, txn, st: State) -> None:
        txn.put(meta_key(self.uid, _STATE), st.pack(), db=self._t["meta"])

    def build_index(self, field: str | None = None, *, progress: bool | None = None, chunk: int = 100_000) -> int:
        """Index every row not yet in the graph of `field` (all indexed fields if None), in transactions of
        `chunk` rows (each durable on its own, so a crash loses at most the chunk in progress). Returns the
        number of rows indexed."""
        from tqdm.auto import tqdm

        if field is not None:
            self.schema.field(field)
            names = [self._mv[field][1] if field in self._mv else field]
        else:
            names = [n for n, fs in self._fields.items() if fs.index is not None]
        for name in names:
            if self._fields[name].index is None:
                raise InvalidArgument(f"vector field {name!r} has no index (it was created with index=None)")
        show = sys.stderr.isatty() if progress is None else progress
        t = self._t
        total = 0
        for name in names:
            fs = self._fields[name]
            with self._env.read() as txn:
                st = self._state(txn)
                pending = st.next_row - fs.index.store.meta(txn, t["aux"]).n_indexed
            bar = tqdm(total=max(pending, 0), desc=f"index {self.name}.{name}", unit="row", disable=not show)
            while True:
                itx = IndexTxn([fs], extra_caches=[self._ids])

                def tx(txn, fs=fs, itx=itx, bar=bar) -> int:
                    st = self._state(txn)
                    itx.begin_attempt(st)
                    start = fs.index.store.meta(txn, t["aux"]).n_indexed
                    if start >= st.next_row:
                        return 0
                    upto = min(st.next_row, start + chunk)
                    index_rows(txn, t, fs, st, upto, itx, progress=bar)
                    return upto - start

                with itx:
                    done = self._env.write(tx)
                if not done:
                    break
                total += done
            bar.close()
        return total

    def delete(self, ids: object) -> int:
        """Delete points by id (unknown ids are ignored). Returns how many were deleted."""
        keys = list(dict.fromkeys(encode_ids(ids, unique=False)))
        if not keys:
            return 0
        t = self._t

        def tx(txn) -> int:
            st = self._state(txn)
            dead = []
            for key in keys:
                idk = self._prefix + key
                old = txn.get(idk, db=t["id2row"])
                if old is not None:
                    dead.append(ROW_VALUE.unpack(old)[0])
                    txn.delete(idk, db=t["id2row"])
            if dead:
                self._forget_rows(txn, dead)
                self._put_state(txn, State(st.next_row, st.live - len(dead), st.generation + 1, st.epoch))
            return len(dead)

        return self._env.write(tx)

    # ------------------------------------------------------------------ reads
    def _rows_of(self, txn, keys: list[bytes]) -> list[tuple[bytes, int]]:
        found = []
        for key in keys:
            raw = txn.get(self._prefix + key, db=self._t["id2row"])
            if raw is not None:
                found.append((key, ROW_VALUE.unpack(raw)[0]))
        return found

    def _points(self, txn, found: list[tuple[bytes, int]], with_payload: bool, with_vectors: bool) -> list[Point]:
        vectors: dict[str, object] = {}
        if with_vectors and found:
            rows = [r for _, r in found]
            for name, f in self.schema.vectors.items():
                if isinstance(f, MultiVector):
                    vectors[name] = self._mv[name][0].doc_tokens(txn, self._t["aux"], rows)
                else:
                    vectors[name] = self._columns[name].get_rows(txn, self._t["block"], rows)
        out = []
        for j, (key, row) in enumerate(found):
            pay = None
            if with_payload:
                pay = payload_codec.decode(txn.get(row_key(self.uid, row), db=self._t["payload"]))
            vec = {name: v[j] for name, v in vectors.items()} if with_vectors else None
            out.append(Point(decode_id(key), pay, vec))
        return out

    def get(self, ids: object, *, with_payload: bool = True, with_vectors: bool = False) -> list[Point]:
        """The points with these ids that exist, in the order asked."""
        keys = list(dict.fromkeys(encode_ids(ids, unique=False)))
        with self._env.read() as txn:
            self._state(txn)
            return self._points(txn, self._rows_of(txn, keys), with_payload, with_vectors)

    def scroll(
        self,
        limit: int = 100,
        offset: PointId | None = None,
        *,
        with_payload: bool = True,
        with_vectors: bool = False,
    ) -> ScrollPage:
        """One page of points in id order (integers first, then strings), starting at id `offset`."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100_000:
            raise InvalidArgument(f"limit must be an integer in [1, 100000], got {limit!r}")
        start = self._prefix + (encode_id(offset) if offset is not None else b"")
        found: list[tuple[bytes, int]] = []
        next_offset = None
        with self._env.read() as txn:
            self._state(txn)
            with txn.cursor(db=self._t["id2row"]) as cur:
                if cur.set_range(start):
                    for key, val in cur:
                        if bytes(key[:4]) != self._prefix:
                            break
                        if len(found) == limit:
                            next_offset = decode_id(bytes(key[4:]))
                            break
                        found.append((bytes(key[4:]), ROW_VALUE.unpack(val)[0]))
            points = self._points(txn, found, with_payload, with_vectors)
        return ScrollPage(points, next_offset)

    # ------------------------------------------------------------------ search
    def search(
        self,
        field: str,
        queries: object,
        k: int = 10,
        *,
        filter: filter_ops.Filter | None = None,  # noqa: A002 - the name users expect
        params: SearchParams | None = None,
        with_payload: bool = True,
        model_version: str | None = None,
    ) -> Hits | list[Hits]:
        """The k nearest points to each query. A 1-D query gives one Hits; a matrix gives a list of Hits.

        filter: a vecdb.filters expression over declared payload fields; only matching points are returned, and
        min(k, matching points) of them always (explain shows the plan and the filter's cardinality).
        model_version: the embedding model the queries come from; when it is not the field's index version, the
        field's fitted query map for it is applied first (see fit_query_map), or NotFound says none exists.

        Indexed fields are searched through the HNSW graph (rows not yet indexed are scanned exactly and merged);
        params=SearchParams(ef=..., exact=True) sets the beam width or forces the exact scan. Each Hits.explain
        tells which path ran and how many distances it computed.

        Compressed fields (Dense(compression=...)): once the codec is trained, a field without an index is searched
        on its codes (fused top-k over the code blocks, filter applied) for k * oversample candidates, which are
        rescored exactly with the float vectors (explain: path "codes+rescore", codes_scanned, rows_rescored,
        oversample). A field with an HNSW index keeps the graph as its default; SearchParams(use_codes=True) takes
        the codes path instead. exact=True always scans the floats; rescore=False returns the code ranking with
        the codec's own scores (-code distance); oversample=None takes the calibrated factor for recall_target
        (default 0.95). Before training, the float path runs and explain["compression"] says so.
        Binary fields: exact Hamming scan; scores are -(differing bits).
        """
        if type(queries) is _NDARRAY and model_version is None:
            fast = self._one.get(field)
            if (  # one float32 query on a path with a single-query kernel (it may hand back None)
                fast is not None
                and queries.shape == fast[1]
                and queries.dtype is _F32
                and queries.flags.c_contiguous  # as Numba types it (1-D: half the cost of comparing strides)
                and type(k) is int
                and 0 < k <= MAX_K
                and (params is None or (type(params) is SearchParams and getattr(params, fast[3])))
            ):
                hits = fast[2](self, fast[0], queries, k, params, with_payload, filter)
                if hits is not None:
                    return hits
        if field in self._mv:
            if model_version is not None:
                raise InvalidArgument("model_version (query maps) applies to dense fields")
            return self._search_multivector(field, queries, k, filter, params, with_payload)
        if model_version is not None:
            queries, single_map = self._map_queries(field, queries, check_version(model_version))
        fs = self._fields.get(field) if field in self.schema.vectors else None
        if fs is None:
            self.schema.field(field)  # raises the clear error
        f = fs.field
        params = _DEFAULT_PARAMS if params is None else _check_params(params)
        if params.multivector_only:
            raise InvalidArgument(f"candidates / reduce_tau apply to multi-vector fields; {field!r} is dense")
        codes = self._codes.get(field)
        if codes is None and (params.compression_only or params.recall_target is not None):
            raise InvalidArgument(
                f"use_codes / rescore / oversample / recall_target apply to compressed or multi-vector fields; "
                f"{field!r} has no compression"
            )
        if isinstance(f, Binary):
            return self._search_binary(fs, queries, k, filter, with_payload)
        q, single = prepare_queries(f, queries)
        if model_version is not None:
            single = single_map
        if q.shape[0] > MAX_QUERIES:
            raise ResourceExhausted(f"{q.shape[0]} queries in one call; the limit is {MAX_QUERIES}")
        _check_k(k)
        if filter is not None:
            filter = self._valid(filter)
        with self._env.read() as txn:
            st = self._state(txn)
            allowed, n_allowed = self._allowed(txn, st, filter, k)
            found = dense_search(txn, self._t, fs, st, q, k, params, allowed, n_allowed, filter is not None, codes)
            scores = -found.dist if found.code_distances else to_scores(found.dist, f.metric)
            hits = self._hits(txn, st, scores, found.rows, with_payload, found.explain)
        return hits[0] if single else hits

    def _search_one(self, fs: FieldState, q: np.ndarray, k: int, params, with_payload: bool, filter) -> Hits | None:
        """One prepared-type query of an indexed dense field through graph.search_ctx: the same plan, results and
        explain as the general path, with per-snapshot state read once per LMDB transaction id instead of once per
        call (filters: their masks come from the evaluator's cache). None: the general path must run (the snapshot
        or the filter plans otherwise, the query needs the full value check or a clear error, or the walk found
        fewer than min(k, allowed) rows and the completeness rule re-runs it). Written for the fewest Python steps
        (a siftsmall walk is ~10 us; this call's Python was most of the rest): no context manager, one thread-local
        work array holding the visited array, one kernel argument for the snapshot's arrays, the ids read back as
        int64 (uint64s convert at half the speed), Hits made without its dataclass __init__."""
        env = self._env
        txn = env.begin_read()
        try:
            hot = self._hot.get(fs.name)
            if hot is None or hot.txn_id != txn.id() or hot.graph is not fs.index.graph:
                t = self._t
                st = self._state(txn)
                ids = self._ids.get(txn, t["block"], st)[:, 0]
                hot = hot_graph(txn, t, fs, st, self._live(txn, st), ids, txn.id())
                if hot is None:
                    return None
                self._hot[fs.name] = hot
            ef = params.ef if params is not None and params.ef else hot.default_ef
            if ef < k:
                ef = k
            if filter is None:
                if k > hot.live:
                    return None
                want, share = k, -1.0  # the live rows: search_ctx reads them from hot.ctx
            else:
                allowed, n_allowed = self._filters.allowed_rows(
                    txn, self._t, hot.state, self._valid(filter), hot.allowed
                )
                selectivity = n_allowed / hot.state.next_row
                if n_allowed == 0:
                    return None
                ef, small = filtered_beam(ef, n_allowed, selectivity)
                if small:
                    return None
                want = min(k, n_allowed)
                share = plain_walk_share(selectivity) if n_allowed < hot.state.next_row else -1.0
            try:
                work = self._tls.work
            except AttributeError:
                work = self._new_work(0)
            scores = np.empty(k, _F32)
            if share < 0:
                r = search_ctx(q, hot.ctx, scores, work, ef)
                if r == SMALL_VISITED:
                    work = self._new_work(hot.n_visible)
                    r = search_ctx(q, hot.ctx, scores, work, ef)
            else:
                r = search_ctx_filtered(q, hot.ctx, allowed, scores, work, ef, share)
                if r == SMALL_VISITED:
                    work = self._new_work(hot.n_visible)
                    r = search_ctx_filtered(q, hot.ctx, allowed, scores, work, ef, share)
            found = r & FOUND_MASK
            if r < 0 or found < want:  # NOT_SEARCHED: the general path reports why
                return None
            ids = work[WORK_IDS : WORK_IDS + found]
            ids = ids.view(np.uint64).tolist() if r & FLAG_BIG else ids.tolist()  # int64 bits: half the cost
            if with_payload or r & FLAG_BIG:
                rows = work[WORK_IDS + MAX_K : WORK_IDS + MAX_K + found]
                ids, pays = self._ids_payloads(txn, ids, rows, with_payload, found)
            else:
                pays = None
        except DAMAGE_ERRORS as e:
            raise env.damaged(e) from e
        finally:
            env.end_read(txn)
        if found < k:
            scores = scores[:found]
        explain = {"path": "hnsw" if share < 0 else "hnsw_filtered", "ef": ef, "distances_computed": r >> ND_SHIFT,
                   "indexed_rows": hot.n_visible, "exact_tail_rows": 0}  # fmt: skip
        if filter is not None:
            explain["estimate"] = n_allowed
            explain["selectivity"] = round(n_allowed / max(hot.live, 1), 6)
            if share >= 0:
                explain["walk"] = "plain" if r & FLAG_PLAIN else "two_hop"
        hits = _new_hits(Hits)  # the dataclass's __init__ is 3x the cost of four slot stores
        hits.ids, hits.scores, hits.payloads, hits.explain = ids, scores, pays, explain
        return hits

    def _search_sign_one(self, fs: FieldState, q: np.ndarray, k: int, params, with_payload, filter) -> Hits | None:
        """One prepared-type query of a sign-compressed field through binary.sign_search_one (see
        compression/fast.py): the general path's plan, candidates, results and explain; None where it must run."""
        t = self._t
        env = self._env
        txn = env.begin_read()  # as in _search_one: no context manager on the single-query path
        try:
            tid = txn.id()
            hot = self._hot_codes.get(fs.name)
            # a new snapshot, or the map moved (the float blocks' addresses with it): read the snapshot again
            if hot is None or hot.txn_id != tid or hot.map_generation != self._env.map_generation:
                st = self._state(txn)
                ids = self._ids.get(txn, t["block"], st)[:, 0]
                cache = self._code_caches[fs.name]
                hot = hot_codes(
                    txn, t, fs, self._codes[fs.name], cache, st, self._live(txn, st), ids, tid, self._env.map_generation
                )
                if hot is None:
                    return None
                self._hot_codes[fs.name] = hot
            if filter is None:
                if k > hot.state.live:
                    return None
                allowed, n_allowed = hot.allowed, hot.state.live
            else:
                allowed, n_allowed = self._filters.allowed_rows(txn, t, hot.state, self._valid(filter), hot.allowed)
                if n_allowed == 0:
                    return None
            n_pre, n_cand, explain = plan_one(hot, k, params, n_allowed, filter is not None)
            scores = np.empty(k, np.float32)
            rows = np.empty(k, np.int64)
            out_id = np.empty(k, np.uint64)
            if hot.asymmetric:
                found = sign_asym_search_one(q, hot.cosine, hot.mean, hot.scale, hot.codes, allowed, n_cand,
                                             hot.addrs, fs.column.block_rows, hot.l2, hot.ids, scores, rows, out_id,
                                             hot.centroids, hot.probe, hot.order, hot.starts)  # fmt: skip
            else:
                found = sign_search_one(q, hot.cosine, hot.mean, hot.scale, hot.codes, hot.code_addrs, allowed, n_pre,
                                        n_cand, hot.addrs, fs.column.block_rows, hot.l2, hot.ids, scores, rows,
                                        out_id, hot.words)  # fmt: skip
            if found < 0:
                return None
            if found < k:
                scores, rows, out_id = scores[:found], rows[:found], out_id[:found]
            ids, pays = self._ids_payloads(txn, out_id.tolist(), rows, with_payload, found)
        except DAMAGE_ERRORS as e:
            raise env.damaged(e) from e
        finally:
            env.end_read(txn)
        return Hits(ids, scores, pays, explain)

    def _ids_payloads(self, txn, ids: list, rows: np.ndarray, with_payload: bool, n: int) -> tuple[list, list | None]:
        """The point ids of the n result rows rows[:n] (string ids read from the row -> id table) and their
        payloads."""
        t = self._t
        if _STR_SENTINEL in ids:  # a list test: k is small
            for j, v in enumerate(ids):
                if v == _STR_SENTINEL:
                    ids[j] = decode_id(txn.get(row_key(self.uid, int(rows[j])), db=t["row2id"]))
        pays = None
        if with_payload:
            pays = [payload_codec.decode(txn.get(row_key(self.uid, r), db=t["payload"])) for r in rows[:n].tolist()]
        return ids, pays

    def _valid(self, f) -> filter_ops.Filter:
        """f validated against the schema. Filters are immutable: the last filter object is remembered by
        identity (a filter reused for every query is checked once), and up to MAX_VALID_FILTERS are remembered by
        their repr, which tells 3 from 3.0 and True (equal under ==): a new but equal filter object per request, as
        applications build them, skips validation too (6.7 -> ~1.5 us a query)."""
        last = self._last_filter
        if last is not None and last[0] is f:
            return last[1]
        key = repr(f)
        v = self._valid_filters.get(key)
        if v is None:
            v = filter_ops.validate(f, self.schema.payload)
            if " at 0x" not in key:  # a value shown by its address (a custom tzinfo) is not told apart by repr
                if len(self._valid_filters) >= MAX_VALID_FILTERS:
                    self._valid_filters.clear()
                self._valid_filters[key] = v
        self._last_filter = (f, v)
        return v

    def _new_work(self, n_visible: int) -> np.ndarray:
        """This thread's work array for graph.search_ctx (MAX_K results), with a new visited array (tag 0) for
        n_visible rows at least; the thread-local keeps both alive."""
        tls = self._tls
        tls.visited = np.zeros(max(n_visible + n_visible // 4, 1024), np.uint16)  # room to grow before the next
        tls.work = graph_kernels.new_work(MAX_K, tls.visited)
        return tls.work

    def _search_binary(self, fs: FieldState, queries, k, filter, with_payload) -> Hits | list[Hits]:
        """Exact Hamming top-k over a Binary field; scores are -(differing bits)."""
        from .kernels import binary

        single = np.ndim(queries) == 1
        q = prepare_binary(fs.field, queries, "query")
        if q.shape[0] == 0:
            raise InvalidArgument("no queries given")
        if q.shape[0] > MAX_QUERIES:
            raise ResourceExhausted(f"{q.shape[0]} queries in one call; the limit is {MAX_QUERIES}")
        _check_k(k)
        if filter is not None:
            filter = self._valid(filter)
        with self._env.read() as txn:
            st = self._state(txn)
            allowed, n_allowed = self._allowed(txn, st, filter, k)
            blocks = fs.column.views(txn, self._t["block"], st.next_row)
            dist, rows = binary.scan_topk(q, blocks, allowed, k)
            base = {"estimate": n_allowed} if filter is not None else {}
            explain = [{"path": "hamming_scan", "distances_computed": n_allowed, **base} for _ in range(q.shape[0])]
            hits = self._hits(txn, st, 0.0 - dist, rows, with_payload, explain)
        return hits[0] if single else hits

    # ------------------------------------------------------------------ internals for maintenance tools
    def _snapshot_state(self) -> State:
        with self._env.read() as txn:
            return self._state(txn)

    def _get_meta(self, name: bytes) -> dict | None:
        with self._env.read() as txn:
            raw = txn.get(meta_key(self.uid, b"x/" + name), db=self._t["meta"])
            return None if raw is None else json.loads(bytes(raw))

    def _put_meta(self, name: bytes, value: dict) -> None:
        raw = json.dumps(value).encode()
        self._env.write(
            lambda txn: (self._state(txn), txn.put(meta_key(self.uid, b"x/" + name), raw, db=self._t["meta"]))
        )

    def _read_rows(self, start: int, limit: int) -> tuple[int, list, list[dict], dict[str, object]]:
        """Live points of rows [start, start + limit) in one snapshot: (next start, ids, payloads, vectors by
        field). next start == start when start is past the last row."""
        t = self._t
        with self._env.read() as txn:
            st = self._state(txn)
            end = min(st.next_row, start + limit)
            if end <= start:
                return start, [], [], {}
            live = self._live(txn, st)
            rows = (np.flatnonzero(live[start:end]) + start).tolist()
            keys = [bytes(txn.get(row_key(self.uid, r), db=t["row2id"])) for r in rows]
            found = list(zip(keys, rows))
            points = self._points(txn, found, True, True)
        ids = [p.id for p in points]
        payloads = [p.payload for p in points]
        vectors = {
            n: (
                [p.vectors[n] for p in points]
                if n in self._mv
                else np.stack([p.vectors[n] for p in points])
                if points
                else np.zeros((0, f.words), np.uint64)
                if isinstance(f, Binary)
                else np.zeros((0, f.dim), np.float32)
            )
            for n, f in self.schema.vectors.items()
        }
        return end, ids, payloads, vectors

    # ------------------------------------------------------------------ model versions (query drift)
    def _map_queries(self, field: str, queries: object, version: str) -> tuple[np.ndarray, bool]:
        reg = self._registry(field)  # unknown or multi-vector field -> InvalidArgument
        with self._env.read() as txn:
            self._state(txn)
            m = reg.resolve(txn, self._t["aux"], version)
        try:
            single = np.ndim(queries) == 1
        except ValueError:
            single = False
        if m is None:
            return queries, single
        return m.apply(queries), single  # apply() validates shape and finiteness against the map's source dim

    def _registry(self, field: str) -> ModelRegistry:
        self.schema.field(field)
        if field not in self._models:
            kind = self.schema.vectors[field].kind
            raise InvalidArgument(f"model versions apply to dense fields; {field!r} is {kind}")
        return self._models[field]

    def set_model_version(self, field: str, version: str) -> None:
        """Record which embedding model version the vectors of `field` come from (its index version)."""
        reg = self._registry(field)
        version = check_version(version)
        self._env.write(lambda txn: (self._state(txn), reg.set_index_version(txn, self._t["aux"], version)))

    def model_versions(self, field: str) -> dict[str, Any]:
        """{"index_version": ..., "maps": {query version: {kind, d_src, d_dst, fit: held-out figures}}}."""
        reg = self._registry(field)
        with self._env.read() as txn:
            self._state(txn)
            rec = reg.record(txn, self._t["aux"])
        return {"index_version": rec["index_version"], "maps": copy.deepcopy(rec["maps"])}  # the record is cached

    def fit_query_map(
        self, field: str, version: str, new: np.ndarray, old: np.ndarray, *, kind: str = "auto", **fit_args
    ) -> dict[str, Any]:
        """Fit a map from `version`'s embeddings (new) into the index space (old, the same texts embedded by the
        index's model), evaluate it on held-out pairs, store it, and serve queries of `version` through it.
        kind: mean_shift | procrustes | ridge | low_rank | mlp | auto (see vecdb.drift.fit_map for fit_args:
        holdout, seed, progress, val, weights, map parameters). Returns the fit figures."""
        from .drift import fit_map

        reg = self._registry(field)
        version = check_version(version)
        f = self.schema.vectors[field]
        try:
            old_arr = np.asarray(old, dtype=np.float32) if not isinstance(old, np.ndarray) else old
        except (TypeError, ValueError) as e:
            raise InvalidArgument(f"old (index-space) vectors must be a numeric (n, {f.dim}) array: {e}") from None
        if old_arr.ndim != 2 or old_arr.shape[1] != f.dim:
            raise InvalidArgument(
                f"old (index-space) vectors must be (n, {f.dim}) for field {field!r}, got shape {old_arr.shape}"
            )
        m = fit_map(kind, new, old_arr, **fit_args)

        def tx(txn) -> None:
            self._state(txn)
            reg.put_map(txn, self._t["aux"], version, m)

        self._env.write(tx)
        return {"version": version, "kind": m.kind, "d_src": m.d_src, "d_dst": m.d_dst, **m.info.to_dict()}

    def drop_query_map(self, field: str, version: str) -> bool:
        reg = self._registry(field)
        version = check_version(version)
        return self._env.write(lambda txn: (self._state(txn), reg.drop_map(txn, self._t["aux"], version))[1])

    def _search_multivector(self, field, queries, k, filter, params, with_payload) -> Hits | list[Hits]:
        """FDE candidates (graph or exact scan of the hidden FDE field, honouring the filter) -> exact MaxSim
        re-rank. queries: one (n_tokens, dim) token set, or a list of them."""
        mvf, hidden = self._mv[field]
        params = _DEFAULT_PARAMS if params is None else _check_params(params)
        single = isinstance(queries, np.ndarray) and queries.ndim == 2
        qsets = [queries] if single else list(queries) if isinstance(queries, (list, tuple)) else None
        if not qsets:
            raise InvalidArgument(
                f"query for multi-vector field {field!r}: one (n_tokens, {mvf.field.dim}) array, or a list of them"
            )
        if len(qsets) > MAX_QUERIES:
            raise ResourceExhausted(f"{len(qsets)} queries in one call; the limit is {MAX_QUERIES}")
        qs = [mvf.prepare_query(q) for q in qsets]
        _check_k(k)
        if filter is not None:
            filter = self._valid(filter)
        t = self._t
        out = []
        with self._env.read() as txn:
            st = self._state(txn)
            allowed, n_allowed = self._allowed(txn, st, filter, k)
            base = {"estimate": n_allowed} if filter is not None else {}
            for q in qs:
                if params.exact or n_allowed == 0:
                    scores, rows = mvf.exact(txn, t["aux"], q, k, allowed)
                    explain = {
                        "path": "exact_maxsim",
                        "documents_scored": n_allowed,
                        "query_tokens": q.shape[0],
                        **base,
                    }
                else:
                    n_cand = mvf.candidate_count(txn, t["aux"], params, k)
                    fde_params = SearchParams(ef=params.ef)
                    found = dense_search(
                        txn,
                        t,
                        self._fields[hidden],
                        st,
                        mvf.query_fde(q),
                        n_cand,
                        fde_params,
                        allowed,
                        n_allowed,
                        filter is not None,
                    )
                    cand = found.rows[0][found.rows[0] >= 0].astype(np.int64)
                    scores, rows, n_tok = mvf.rerank(txn, t["aux"], q, cand, k, params)
                    explain = {
                        "path": "fde+maxsim",
                        "candidates": int(cand.size),
                        "fde": found.explain[0],
                        "query_tokens": q.shape[0],
                        "reranked_query_tokens": n_tok,
                        **base,
                    }
                hits = self._hits(txn, st, scores[None, :].astype(np.float32), rows[None, :], with_payload, [explain])
                out.append(hits[0])
        return out[0] if single else out

    def calibrate(
        self,
        field: str,
        *,
        k: int = 10,
        recall_target: float | None = 0.9,
        n_pseudo: int = 64,
        pseudo_tokens: int = 32,
        seed: int = 0,
    ) -> dict:
        """Measure how many FDE candidates a multi-vector field needs: pseudo-queries (token windows cut from
        random documents, their own document excluded) are answered exactly by MaxSim, and the FDE ranks of those
        answers give recall@k as a function of the candidate count. With recall_target, the count reaching it
        becomes the field's default. Returns the counts for a few recall levels."""
        if field not in self._mv:
            self.schema.field(field)
            raise InvalidArgument(f"calibrate applies to multi-vector fields; {field!r} is dense")
        k = _check_int_arg("k", k, 1, 100_000)
        n_pseudo = _check_int_arg("n_pseudo", n_pseudo, 1, 1_000_000)
        pseudo_tokens = _check_int_arg("pseudo_tokens", pseudo_tokens, 1, 1_000_000)
        seed = _check_int_arg("seed", seed, 0, 2**63 - 1)
        if recall_target is not None and (
            isinstance(recall_target, bool)
            or not isinstance(recall_target, (int, float, np.floating))
            or not 0.0 < float(recall_target) <= 1.0
        ):
            raise InvalidArgument(f"recall_target must be in (0, 1], got {recall_target!r}")
        mvf, hidden = self._mv[field]
        fs = self._fields[hidden]
        t = self._t

        def tx(txn):
            st = self._state(txn)
            live = tombstones.live_mask(txn, t["tomb"], self.uid, st.next_row)
            fde_rows = fs.vectors.get(txn, t["block"], st)[: st.next_row]
            return mvf.calibrate(txn, t["aux"], fde_rows, live, k, recall_target, n_pseudo, pseudo_tokens, seed)

        cal, default = self._env.write(tx)
        return {
            "k": cal.k,
            "queries": cal.n_queries,
            "default_candidates": default,
            "candidates_for": {r: cal.candidates_for(r) for r in (0.8, 0.9, 0.95, 0.99)},
        }

    # ------------------------------------------------------------------ compression
    def _compressed(self, field: str) -> CompressedField:
        self.schema.field(field)
        cf = self._codes.get(field)
        if cf is None:
            raise InvalidArgument(f"vector field {field!r} has no compression (give Dense(..., compression=))")
        return cf

    def train_compression(
        self,
        field: str,
        sample: int | None = None,
        seed: int = 0,
        *,
        queries: object = None,
        progress: bool | None = None,
    ) -> dict[str, Any]:
        """(Re)fit the codec of a compressed field on a seeded sample of its live vectors (`sample` rows; None: the
        spec's train size, at most 20000), re-encode every row and re-measure the oversampling calibration, all in
        one transaction. Deterministic: the same data, sample and seed give the same codes. queries: real queries
        to calibrate the oversampling on (better than the default, stored vectors standing in for queries, when
        queries differ from documents). Returns the codec's header (bytes per vector, rows trained on,
        calibration)."""
        cf = self._compressed(field)
        if queries is not None:
            queries, _ = prepare_queries(self.schema.vectors[field], queries)
        if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int) or sample < 2):
            raise InvalidArgument(f"sample must be an integer >= 2 or None, got {sample!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
            raise InvalidArgument(f"seed must be an integer in [0, 2^31), got {seed!r}")
        fs = self._fields[field]
        t = self._t
        itx = IndexTxn([fs])

        def tx(txn) -> dict[str, Any]:
            st = self._state(txn)
            itx.begin_attempt(st)
            x = self._float_rows(txn, fs, st)
            return cf.train(txn, t, x, st.next_row, sample=sample, seed=seed, progress=progress, queries=queries)

        with itx:
            head = self._env.write(tx)
        return {k: v for k, v in head.items() if k != "token"}

    def _float_rows(self, txn, fs: FieldState, st: State) -> np.ndarray:
        """All float rows of a field: the in-memory cache of an indexed field, else a temporary copy of the blocks
        (a field searched on codes keeps its floats in LMDB, off the hot memory path)."""
        if fs.index is not None:
            return fs.vectors.get(txn, self._t["block"], st)
        out = np.empty((st.next_row, fs.field.dim), np.float32)
        for first, view in fs.column.views(txn, self._t["block"], st.next_row):
            out[first : first + view.shape[0]] = view
        return out

    def compression_info(self, field: str) -> dict[str, Any] | None:
        """The trained codec's header of a compressed field (None: not trained yet)."""
        cf = self._compressed(field)
        with self._env.read() as txn:
            self._state(txn)
            head = cf.header(txn, self._t["aux"])
        return None if head is None else {k: copy.deepcopy(v) for k, v in head.items() if k != "token"}

    def _live_vectors(self, field: str, limit: int, seed: int) -> np.ndarray:
        """A seeded sample of at most `limit` live float vectors of a dense field (as stored)."""
        f = self.schema.field(field)
        if not isinstance(f, Dense):
            raise InvalidArgument(f"compression applies to dense fields; {field!r} is {f.kind}")
        fs = self._fields[field]
        with self._env.read() as txn:
            st = self._state(txn)
            live = np.flatnonzero(self._live(txn, st))
            if live.size > limit:
                live = np.sort(np.random.default_rng(seed).choice(live, limit, replace=False))
            return fs.column.get_rows(txn, self._t["block"], live) if live.size else np.zeros((0, f.dim), np.float32)

    def compression_report(
        self,
        field: str,
        codecs: list | None = None,
        sample: int = 1000,
        k: int = 10,
        seed: int = 0,
        *,
        recall_target: float = 0.95,
        max_rows: int = 200_000,
        progress: bool | None = None,
    ) -> list:
        """The measured price of candidate codecs (specs or kind strings; None: a default spread for the field's
        dimension) on this field's own vectors: bytes/vector, recall@k of the code search alone and after rescoring
        (oversampling calibrated for recall_target), QPS, fit time. `sample` vectors are held out as queries;
        at most `max_rows` live vectors (a seeded sample) take part. The exact float32 scan is the first row."""
        from .compression.report import compression_report

        for name, v, lo in (("sample", sample, 1), ("k", k, 1), ("max_rows", max_rows, 4)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise InvalidArgument(f"{name} must be an integer >= {lo}, got {v!r}")
        x = self._live_vectors(field, max_rows, seed)
        if x.shape[0] < 4:
            raise InvalidArgument(f"a compression report needs at least 4 points in {field!r}, got {x.shape[0]}")
        f = self.schema.vectors[field]
        return compression_report(
            x, codecs, f.metric, k=k, sample=sample, recall_target=recall_target, seed=seed, progress=progress
        )

    def pick_compression(
        self,
        field: str,
        budget_bytes: float | None = None,
        recall_target: float | None = None,
        *,
        rows: list | None = None,
        **report_args,
    ):
        """The codec to use for `field`, from measured rows (`rows` from compression_report, or measured now):
        within budget_bytes per vector the best rescored recall; for recall_target the smallest codes reaching it;
        with both, the smallest meeting both. None when nothing qualifies."""
        from .compression.report import choose_codec

        if budget_bytes is None and recall_target is None:
            raise InvalidArgument("give budget_bytes, recall_target, or both")
        if rows is None:
            if recall_target is not None:
                report_args.setdefault("recall_target", recall_target)
            rows = self.compression_report(field, **report_args)
        return choose_codec(rows, max_bytes=budget_bytes, min_recall=recall_target)

    def _hits(
        self, txn, st: State, scores: np.ndarray, rows: np.ndarray, with_payload: bool, explain: list[dict]
    ) -> list[Hits]:
        t = self._t
        idcol = self._ids.get(txn, t["block"], st)[:, 0]
        out = []
        for qi in range(rows.shape[0]):
            r = rows[qi]
            sc = scores[qi]
            if r.size and r[-1] < 0:  # padding (-1) sits at the end
                n = int(np.argmax(r < 0))
                r, sc = r[:n], sc[:n]
            ids = idcol[r].tolist()
            if _STR_SENTINEL in ids:  # string ids live in the row -> id table (a list test: k is small)
                for j, v in enumerate(ids):
                    if v == _STR_SENTINEL:
                        ids[j] = decode_id(txn.get(row_key(self.uid, int(r[j])), db=t["row2id"]))
            pays = None
            if with_payload:
                pays = [payload_codec.decode(txn.get(row_key(self.uid, int(x)), db=t["payload"])) for x in r]
            out.append(Hits(ids, sc, pays, explain[qi]))
        return out

    # ------------------------------------------------------------------ maintenance
    def compact(self, *, progress: bool | None = None) -> dict[str, int]:
        """Reclaim the rows of deleted and replaced points: renumber live rows densely, in one transaction."""
        from tqdm.auto import tqdm

        t = self._t
        show = sys.stderr.isatty() if progress is None else progress

        itx = IndexTxn(list(self._fields.values()), extra_caches=[self._ids, *self._filters.caches.values()])

        def tx(txn) -> dict[str, int]:
            st = self._state(txn)
            itx.begin_attempt(st)
            live = tombstones.live_mask(txn, t["tomb"], self.uid, st.next_row)
            keep = np.flatnonzero(live)
            result = {"rows_before": st.next_row, "rows_after": int(keep.size), "reclaimed": st.next_row - keep.size}
            if keep.size == st.next_row:
                return result
            new = State(int(keep.size), st.live, st.generation + 1, st.epoch + 1)
            for fs in tqdm(self._fields.values(), desc=f"compact {self.name}", disable=not show, leave=False):
                compact_field(txn, t, fs, st, keep, new, itx)
            for mvf, _ in self._mv.values():
                mvf.compact(txn, t["aux"], keep)
            for cf in self._codes.values():
                cf.compact(txn, t["aux"], t["block"], keep, st.next_row)
            self._pindex.compact(
                txn, t["aux"], t["block"], keep, lambda col: self._filters.caches[id(col)].get(txn, t["block"], st)
            )
            ids_kept = np.ascontiguousarray(self._ids.get(txn, t["block"], st)[keep])
            self._idcol.write_rows(txn, t["block"], 0, ids_kept)
            self._idcol.truncate(txn, t["block"], int(keep.size))
            itx.on_commit.append(lambda: self._ids.install(ids_kept, new.epoch))
            for new_row, old_row in enumerate(keep.tolist()):
                if new_row == old_row:
                    continue
                ok, nk = row_key(self.uid, old_row), row_key(self.uid, new_row)
                key = bytes(txn.get(ok, db=t["row2id"]))
                txn.delete(ok, db=t["row2id"])
                txn.put(nk, key, db=t["row2id"])
                txn.put(self._prefix + key, ROW_VALUE.pack(new_row), db=t["id2row"])
                pay = txn.get(ok, db=t["payload"])
                if pay is not None:
                    pay = bytes(pay)
                    txn.delete(ok, db=t["payload"])
                    txn.put(nk, pay, db=t["payload"])
            tombstones.clear(txn, t["tomb"], self.uid)
            self._put_state(txn, new)
            return result

        with itx:
            return self._env.write(tx)


def drop_collection_data(txn, tables: Mapping, uid: int) -> None:
    prefix = uid_prefix(uid)
    for name in ("meta", "id2row", "row2id", "payload", "tomb", "block", "aux"):
        delete_prefix(txn, tables[name], prefix)


_DEFAULT_PARAMS = SearchParams()


def _check_params(params: object) -> SearchParams:
    if not isinstance(params, SearchParams):
        raise InvalidArgument(f"params must be SearchParams(...), got {type(params).__name__}")
    return params


def _check_k(k: object) -> None:
    if type(k) is int and 1 <= k <= MAX_K:
        return
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise InvalidArgument(f"k must be an integer, got {k!r}")
    if not 1 <= k <= MAX_K:
        raise InvalidArgument(f"k must be in [1, {MAX_K}], got {k}")


def _check_int_arg(name: str, v: object, lo: int, hi: int) -> int:
    """An integer argument in [lo, hi] (numpy integers accepted) as a plain int, else InvalidArgument (a wrong
    type in the words the gRPC client uses when it refuses one locally)."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise InvalidArgument(f"{name} must be an integer{' >= 1' if name == 'k' else ''}, got {v!r}")
    if not lo <= int(v) <= hi:
        raise InvalidArgument(f"{name} must be in [{lo}, {hi}], got {int(v)}")
    return int(v)
