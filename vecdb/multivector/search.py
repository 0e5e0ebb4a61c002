"""Multi-vector search: MUVERA FDE candidates, then exact MaxSim re-ranking of those candidates.

MultiVectorIndex keeps, per document, its token codes (TokenStore) and its FDE (a dense row, scored by dot
product). A search encodes the query FDE, retrieves the `candidates` best documents by FDE dot product (exact
dense scan by default; the engine can pass its graph index as `retriever`), and re-ranks them by exact MaxSim
against the stored tokens, optionally with the query reduced by ball carving first.

The candidate count comes from a recall target through `calibrate`: for a set of calibration queries, it finds
where the exact MaxSim top-k documents rank by FDE score and picks the smallest count whose mean recall@k reaches
the target. Calibration queries are either held-out real queries, or pseudo-queries cut from the collection's own
documents (a random window of tokens from a random document, that document excluded from the answers), which
needs nothing but the data; FDE ranks are exact (full FDE scan), so a graph retriever adds its own recall loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..errors import FailedPrecondition, InvalidArgument
from ..kernels import dense
from .codecs import TokenCompression
from .fde import FDEParams, encode_flat
from .reduce import ball_carve
from .tokens import TokenStore

Retriever = Callable[[np.ndarray, int, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class MultiVectorSearchParams:
    """candidates: FDE candidates to re-rank (None = from the calibration, or DEFAULT_CANDIDATES); recall_target:
    pick the count from the calibration curve instead; reduce_tau: ball-carving threshold for the re-ranking
    query (None = keep every token); exact: skip the FDE and scan every document by MaxSim."""

    candidates: int | None = None
    recall_target: float | None = None
    reduce_tau: float | None = None
    exact: bool = False

    def __post_init__(self) -> None:
        if self.candidates is not None and (
            isinstance(self.candidates, bool) or not isinstance(self.candidates, int) or self.candidates < 1
        ):
            raise InvalidArgument(f"candidates must be a positive integer, got {self.candidates!r}")
        if self.recall_target is not None and not (
            isinstance(self.recall_target, int | float) and 0 < self.recall_target <= 1
        ):
            raise InvalidArgument(f"recall_target must be in (0, 1], got {self.recall_target!r}")
        if self.candidates is not None and self.recall_target is not None:
            raise InvalidArgument("give candidates or recall_target, not both")
        if self.reduce_tau is not None and not (
            isinstance(self.reduce_tau, int | float) and -1 <= self.reduce_tau <= 1
        ):
            raise InvalidArgument(f"reduce_tau must be in [-1, 1], got {self.reduce_tau!r}")
        if not isinstance(self.exact, bool):
            raise InvalidArgument(f"exact must be a bool, got {self.exact!r}")

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("candidates", "recall_target", "reduce_tau", "exact")}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MultiVectorSearchParams:
        try:
            return cls(**d)
        except TypeError as e:
            raise InvalidArgument(f"bad multi-vector search parameters {d!r}: {e}") from None


@dataclass(frozen=True)
class Calibration:
    """Where the exact MaxSim top-k of calibration queries rank by FDE score (0 = first), pooled and sorted."""

    k: int
    source: str  # "queries" or "pseudo-queries"
    n_queries: int
    n_docs: int
    positions: tuple[int, ...] = field(repr=False)

    def recall_at(self, candidates: int) -> float:
        """Mean recall@k of the exact top-k among the FDE top-`candidates` over the calibration queries."""
        hits = int(np.searchsorted(np.asarray(self.positions), candidates, side="left"))
        return hits / max(len(self.positions), 1)

    def candidates_for(self, recall_target: float) -> int:
        """Smallest candidate count whose calibrated mean recall@k reaches the target (at least k)."""
        if not 0 < recall_target <= 1:
            raise InvalidArgument(f"recall_target must be in (0, 1], got {recall_target!r}")
        need = math.ceil(recall_target * len(self.positions) - 1e-9)
        if need <= 0:
            return self.k
        return max(self.k, int(self.positions[need - 1]) + 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "source": self.source,
            "n_queries": self.n_queries,
            "n_docs": self.n_docs,
            "positions": list(self.positions),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        return cls(int(d["k"]), str(d["source"]), int(d["n_queries"]), int(d["n_docs"]), tuple(d["positions"]))


class Hits(NamedTuple):
    scores: np.ndarray  # (<= k,) float32 MaxSim, best first
    docs: np.ndarray  # (<= k,) int64 document numbers
    candidates: int  # documents re-ranked (n_docs for an exact search)
    query_tokens: int  # query tokens used for re-ranking (after reduction)


class PreparedBatch(NamedTuple):
    """What one upsert batch adds: token codes in block layout and FDE rows (the engine persists these)."""

    offsets: np.ndarray
    data: np.ndarray
    aux: np.ndarray | None
    fde: np.ndarray


DEFAULT_CANDIDATES = 200


class MultiVectorIndex:
    """Token storage + FDEs of one multi-vector field, with FDE-candidate / exact-MaxSim search."""

    def __init__(
        self,
        dim: int,
        fde: FDEParams | None = None,
        compression: TokenCompression | None = None,
        *,
        normalize: bool = True,
        block_tokens: int = 65_536,
        fde_block_docs: int = 1024,
        store: TokenStore | None = None,
    ):
        self.fde_params = fde or FDEParams()
        if not isinstance(self.fde_params, FDEParams):
            raise InvalidArgument(f"fde must be FDEParams, got {type(self.fde_params).__name__}")
        self.tokens = store or TokenStore(dim, compression, normalize=normalize, block_tokens=block_tokens)
        if isinstance(fde_block_docs, bool) or not isinstance(fde_block_docs, int) or fde_block_docs < 1:
            raise InvalidArgument(f"fde_block_docs must be a positive integer, got {fde_block_docs!r}")
        self.fde_block_docs = fde_block_docs
        self.dim = self.tokens.dim
        self.fde_dim = self.fde_params.fde_dim(self.dim)
        self._fde_bufs: list[np.ndarray] = []  # (fde_block_docs, fde_dim) each, the last one partly filled
        self.calibration: Calibration | None = None
        self.default_candidates: int | None = None

    @property
    def n_docs(self) -> int:
        return self.tokens.n_docs

    # -- writing -------------------------------------------------------------------------------------------------

    def prepare_batch(self, docs: object) -> PreparedBatch:
        """Validate, normalise, encode and FDE-encode a batch without storing it."""
        flat, offsets = self.tokens.prepare(docs)
        data, aux = self.tokens.encode(flat, offsets)
        fde = encode_flat(self.fde_params, flat, offsets, document=True)
        return PreparedBatch(offsets, data, aux, fde)

    def append(self, batch: PreparedBatch) -> np.ndarray:
        """Store a prepared batch; returns the new document numbers."""
        first = self.n_docs
        n = batch.offsets.shape[0] - 1
        if n == 0:
            return np.zeros(0, np.int64)
        if batch.fde.shape != (n, self.fde_dim):
            raise InvalidArgument(f"batch FDEs have shape {batch.fde.shape}, expected ({n}, {self.fde_dim})")
        self._write_fdes(first, batch.fde)
        self.tokens.append_encoded(batch.offsets, batch.data, batch.aux)
        return np.arange(first, first + n, dtype=np.int64)

    def _write_fdes(self, first: int, rows: np.ndarray) -> None:
        size = self.fde_block_docs
        if rows.ndim != 2 or rows.shape[1] != self.fde_dim:
            raise InvalidArgument(f"FDE rows have shape {rows.shape}, expected (n, {self.fde_dim})")
        while len(self._fde_bufs) * size < first + rows.shape[0]:
            self._fde_bufs.append(np.zeros((size, self.fde_dim), np.float32))
        done = 0
        while done < rows.shape[0]:  # whole runs at a time, not row by row
            b, r = divmod(first + done, size)
            take = min(size - r, rows.shape[0] - done)
            self._fde_bufs[b][r : r + take] = rows[done : done + take]
            done += take

    @property
    def fde_blocks(self) -> list[tuple[int, np.ndarray]]:
        """(first document, (n, fde_dim) float32 rows) blocks: what the FDE scan (or a graph index) reads."""
        size, n = self.fde_block_docs, self.n_docs
        return [(b * size, buf[: min(size, n - b * size)]) for b, buf in enumerate(self._fde_bufs) if n > b * size]

    def add(self, docs: object) -> np.ndarray:
        """Append documents (a list of (n_tokens, dim) arrays); returns their document numbers."""
        return self.append(self.prepare_batch(docs))

    def rebuild_fdes(self) -> None:
        """Recompute every FDE from the stored tokens (after changing FDE parameters, or when sharing a
        TokenStore between indexes). Compressed tokens are decoded first, so these FDEs can differ slightly from
        the ones computed at insert time from the original tokens."""
        self._fde_bufs = []
        for b in self.tokens.blocks:
            flat = self.tokens.codec.decode(b.data, b.aux)
            self._write_fdes(b.first_doc, encode_flat(self.fde_params, flat, b.offsets, document=True))

    def share_fdes(self, other: MultiVectorIndex) -> None:
        """Use another index's FDE rows (same documents, same FDE parameters), e.g. to compare token codecs."""
        if other.fde_params != self.fde_params or other.n_docs != self.n_docs or other.dim != self.dim:
            raise InvalidArgument("FDEs can only be shared between indexes of the same documents and FDE parameters")
        self.fde_block_docs, self._fde_bufs = other.fde_block_docs, other._fde_bufs

    # -- searching -----------------------------------------------------------------------------------------------

    def query_fde(self, query: np.ndarray) -> np.ndarray:
        """FDE (1, fde_dim) of a prepared query."""
        return encode_flat(self.fde_params, query, np.array([0, query.shape[0]], np.int64), document=False)

    def _allowed(self, allowed: np.ndarray | None) -> np.ndarray:
        if allowed is None:
            return np.ones(self.n_docs, np.uint8)
        a = np.ascontiguousarray(allowed, dtype=np.uint8)
        if a.shape != (self.n_docs,):
            raise InvalidArgument(f"allowed must be a mask of {self.n_docs} documents, got shape {a.shape}")
        return a

    def fde_candidates(self, query: np.ndarray, n: int, allowed: np.ndarray) -> np.ndarray:
        """The n allowed documents with the best FDE dot product (exact dense scan), best first."""
        _, rows = dense.scan_topk(self.query_fde(query), self.fde_blocks, allowed, n, "dot")
        rows = rows[0]
        return rows[rows >= 0]

    def _candidate_count(self, params: MultiVectorSearchParams, k: int) -> int:
        if params.candidates is not None:
            c = params.candidates
        elif params.recall_target is not None:
            if self.calibration is None:
                raise FailedPrecondition("recall_target needs a calibration: call calibrate() first")
            c = self.calibration.candidates_for(params.recall_target)
            c = math.ceil(c * max(1.0, k / self.calibration.k))
        elif self.default_candidates is not None:
            c = math.ceil(self.default_candidates * max(1.0, k / self.calibration.k))
        else:
            c = max(DEFAULT_CANDIDATES, 10 * k)
        return max(c, k)

    def search(
        self,
        query: object,
        k: int = 10,
        params: MultiVectorSearchParams | None = None,
        *,
        allowed: np.ndarray | None = None,
        retriever: Retriever | None = None,
    ) -> Hits:
        """Top-k documents of one query token set (n_tokens, dim). retriever(query_fde (fde_dim,), n, allowed) ->
        document numbers replaces the exact FDE scan (e.g. a graph index over the FDE rows)."""
        params = params or MultiVectorSearchParams()
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise InvalidArgument(f"k must be an integer >= 1, got {k!r}")
        q = self.tokens.prepare_query(query)
        mask = self._allowed(allowed)
        if self.n_docs == 0:
            return Hits(np.zeros(0, np.float32), np.zeros(0, np.int64), 0, q.shape[0])
        if params.exact:
            scores, docs = self.tokens.scan_topk(q, k, mask)
            keep = docs >= 0
            return Hits(scores[keep], docs[keep], self.n_docs, q.shape[0])
        n = min(self._candidate_count(params, k), self.n_docs)
        if retriever is None:
            cand = self.fde_candidates(q, n, mask)
        else:
            cand = np.asarray(retriever(self.query_fde(q)[0], n, mask), dtype=np.int64).reshape(-1)
            cand = cand[(cand >= 0) & (cand < self.n_docs)]
            cand = np.unique(cand[mask[cand] != 0])
        rq = q if params.reduce_tau is None else ball_carve(q, params.reduce_tau)[0]
        scores = self.tokens.score(rq, cand, prepared=True)
        top = np.lexsort((cand, -scores))[:k]  # best first, ties by document number
        return Hits(scores[top], cand[top], int(cand.shape[0]), rq.shape[0])

    # -- calibration ---------------------------------------------------------------------------------------------

    def pseudo_queries(self, n: int, tokens_per_query: int = 32, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
        """n pseudo-queries cut from random documents: (token windows, source documents)."""
        rng = np.random.default_rng(seed)
        sources = np.sort(rng.choice(self.n_docs, min(n, self.n_docs), replace=False))
        out = []
        for d in sources:
            toks = self.tokens.doc_tokens(int(d))
            m = min(tokens_per_query, toks.shape[0])
            start = int(rng.integers(0, toks.shape[0] - m + 1))
            out.append(toks[start : start + m])
        return out, sources

    def calibrate(
        self,
        k: int = 10,
        *,
        recall_target: float | None = 0.95,
        queries: list[np.ndarray] | None = None,
        n_pseudo: int = 64,
        pseudo_tokens: int = 32,
        seed: int = 0,
    ) -> Calibration:
        """Measure FDE ranks of the exact MaxSim top-k on held-out `queries`, or on pseudo-queries from the
        documents when none are given; with recall_target, the chosen count becomes the default for search."""
        if self.n_docs < 2:
            raise FailedPrecondition("calibration needs at least two documents")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidArgument(f"k must be a positive integer, got {k!r}")
        if queries is not None:
            qs, sources, source = list(queries), [None] * len(queries), "queries"
            if not qs:
                raise InvalidArgument("no calibration queries given")
        else:
            qs, srcs = self.pseudo_queries(n_pseudo, pseudo_tokens, seed)
            sources, source = list(srcs), "pseudo-queries"
        positions = []
        for query, src in zip(qs, sources):
            q = self.tokens.prepare_query(query)
            mask = np.ones(self.n_docs, np.uint8)
            if src is not None:
                mask[src] = 0  # its own document would be a trivial answer
            kk = min(k, int(mask.sum()))
            _, exact = self.tokens.scan_topk(q, kk, mask)
            fde_scores = np.concatenate([rows @ self.query_fde(q)[0] for _, rows in self.fde_blocks])
            fde_scores[mask == 0] = -np.inf
            # rank = allowed documents scoring strictly higher (ties in favour of the true answer)
            for d in exact[exact >= 0]:
                positions.append(int((fde_scores > fde_scores[d]).sum()))
            positions += [self.n_docs] * (k - kk)  # unreachable answers count as misses
        cal = Calibration(k, source, len(qs), self.n_docs, tuple(sorted(positions)))
        self.calibration = cal
        if recall_target is not None:
            self.default_candidates = cal.candidates_for(recall_target)
        return cal

    # -- persistence ---------------------------------------------------------------------------------------------

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        tmeta, tarr = self.tokens.state()
        meta = {
            "fde": self.fde_params.to_dict(),
            "tokens": tmeta,
            "fde_block_docs": self.fde_block_docs,
            "fde_blocks": [first for first, _ in self.fde_blocks],
            "calibration": self.calibration.to_dict() if self.calibration else None,
            "default_candidates": self.default_candidates,
        }
        arrays = {f"tokens.{k}": v for k, v in tarr.items()}
        arrays.update({f"fde.{i}": rows for i, (_, rows) in enumerate(self.fde_blocks)})
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> MultiVectorIndex:
        store = TokenStore.from_state(
            meta["tokens"], {k[len("tokens.") :]: v for k, v in arrays.items() if k.startswith("tokens.")}
        )
        index = cls(store.dim, FDEParams.from_dict(meta["fde"]), store=store, fde_block_docs=meta["fde_block_docs"])
        blocks = [(int(first), np.asarray(arrays[f"fde.{i}"])) for i, first in enumerate(meta["fde_blocks"])]
        if sum(rows.shape[0] for _, rows in blocks) != store.n_docs:
            raise InvalidArgument("multi-vector state is inconsistent: FDE rows and documents differ in number")
        for first, rows in blocks:
            index._write_fdes(first, rows)
        if meta.get("calibration"):
            index.calibration = Calibration.from_dict(meta["calibration"])
        index.default_candidates = meta.get("default_candidates")
        return index
