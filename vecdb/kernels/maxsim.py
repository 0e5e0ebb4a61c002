"""Exact MaxSim of a query token set against multi-vector documents, plain or compressed.

MaxSim(Q, D) = sum over query tokens q of max over document tokens x of <q, x> (ColBERT late interaction).

Documents live in blocks: each block holds the tokens of consecutive documents as one flat code matrix plus
per-document offsets (offsets[0] == 0, offsets[i + 1] - offsets[i] tokens for document first_doc + i), so the
engine can keep one block per LMDB value and hand zero-copy views to the kernels. Token encodings (`Codes.kind`):

- "float32": (T, d) float32 rows, scored as they are (the reference path).
- "int8":    (T, d) int8 codes, x = code * scale with one float32 scale per dimension.
- "binary":  (T, ceil(d / 8)) uint8 sign bits (np.packbits order), x = alpha_t * (+-1), alpha_t the token's
             own float32 scale (its mean |x|); queries stay float (asymmetric scoring).
- "residual": centroid + residual codes (ColBERTv2-style): x = centroids[id_t] + lut-decoded residual, the residual
             quantised to `nbits` per dimension and packed 8 / nbits values per byte.

Compressed documents are decoded one at a time into a small scratch buffer and scored with the same inner loop
as float32 tokens: decoding costs d operations per token against (query tokens x d) for the scoring, and keeps one
fast inner loop for every encoding. The bit-packed encodings decode through a (256, values_per_byte) table, and
queries are zero-padded to the padded width so the decoder never needs a ragged tail.

Kernels work on distances where smaller is better (-MaxSim) to share the bounded heaps of kernels/topk.py.
A document with no tokens never matches: scan_topk skips it and score_docs gives it -inf (the storage layer
rejects empty documents, so this only guards against hand-built blocks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .._threads import fan_out, n_threads
from ..errors import InvalidArgument
from ..jit import inline_helper, kernel
from .topk import heap_replace_top, merge_heaps, new_heaps, sort_heaps

KINDS = ("float32", "int8", "binary", "residual")
# Below this many multiply-adds (query tokens x document tokens x dim), one thread is faster than a hand-off.
_PARALLEL_MIN_WORK = 4_000_000


@dataclass(frozen=True)
class Codes:
    """How token vectors are encoded, with the arrays that every block shares.

    kind: one of KINDS. dim: the token dimension. scale: "int8" per-dimension scales (d,). lut: "binary" /
    "residual" byte decode table (256, values_per_byte) float32. centroids: "residual" centroids (C, d) float32.
    """

    kind: str
    dim: int
    scale: np.ndarray | None = None
    lut: np.ndarray | None = None
    centroids: np.ndarray | None = None

    @property
    def padded_dim(self) -> int:
        """Width of a decoded token (the dimension rounded up to whole bytes for bit-packed encodings)."""
        if self.kind in ("binary", "residual"):
            per_byte = self.lut.shape[1]
            return -(-self.dim // per_byte) * per_byte
        return self.dim


class Block(NamedTuple):
    """Tokens of documents first_doc .. first_doc + len(offsets) - 2.

    offsets: (n + 1,) int64, offsets[0] == 0. data: per-token codes, (T, d) float32 | (T, d) int8 |
    (T, n_bytes) uint8. aux: per-token side values: "binary" -> (T,) float32 scale, "residual" -> (T,) integer
    centroid ids, otherwise None.
    """

    first_doc: int
    offsets: np.ndarray
    data: np.ndarray
    aux: np.ndarray | None = None

    @property
    def n_docs(self) -> int:
        return self.offsets.shape[0] - 1


# ---------------------------------------------------------------------------------------------------------------
# Inner loops


@inline_helper
def _maxsim_rows(Q, X, t0, t1, best):
    """MaxSim of query Q (nq, d) against rows X[t0:t1]; X may be wider than Q (padding is never read).

    Register blocking: 4 query tokens x 2 document tokens share each pass over d (6 loads feed 8 multiply-adds),
    about a third faster than 4 x 1 and well ahead of a BLAS matmul + segment max at these small shapes.
    """
    nq, d = Q.shape
    for i in range(nq):
        best[i] = -np.inf
    q4 = nq - nq % 4
    t2 = t1 - (t1 - t0) % 2
    for t in range(t0, t2, 2):
        x = X[t]
        y = X[t + 1]
        for qi in range(0, q4, 4):
            a = Q[qi]
            b = Q[qi + 1]
            c = Q[qi + 2]
            e = Q[qi + 3]
            s0 = np.float32(0.0)
            s1 = np.float32(0.0)
            s2 = np.float32(0.0)
            s3 = np.float32(0.0)
            r0 = np.float32(0.0)
            r1 = np.float32(0.0)
            r2 = np.float32(0.0)
            r3 = np.float32(0.0)
            for j in range(d):
                xj = x[j]
                yj = y[j]
                aj = a[j]
                bj = b[j]
                cj = c[j]
                ej = e[j]
                s0 += aj * xj
                s1 += bj * xj
                s2 += cj * xj
                s3 += ej * xj
                r0 += aj * yj
                r1 += bj * yj
                r2 += cj * yj
                r3 += ej * yj
            best[qi] = max(best[qi], s0, r0)
            best[qi + 1] = max(best[qi + 1], s1, r1)
            best[qi + 2] = max(best[qi + 2], s2, r2)
            best[qi + 3] = max(best[qi + 3], s3, r3)
        for qi in range(q4, nq):
            q = Q[qi]
            s = np.float32(0.0)
            r = np.float32(0.0)
            for j in range(d):
                s += q[j] * x[j]
                r += q[j] * y[j]
            best[qi] = max(best[qi], s, r)
    for t in range(t2, t1):
        x = X[t]
        for qi in range(nq):
            q = Q[qi]
            s = np.float32(0.0)
            for j in range(d):
                s += q[j] * x[j]
            if s > best[qi]:
                best[qi] = s
    total = np.float32(0.0)
    for i in range(nq):
        total += best[i]
    return total


@inline_helper
def _decode_int8(data, scale, t0, t1, buf):
    d = data.shape[1]
    for t in range(t0, t1):
        r = t - t0
        for j in range(d):
            buf[r, j] = data[t, j] * scale[j]


@inline_helper
def _decode_binary(data, alpha, lut, t0, t1, buf):
    nbytes = data.shape[1]
    per = lut.shape[1]
    for t in range(t0, t1):
        r = t - t0
        a = alpha[t]
        for p in range(nbytes):
            row = lut[data[t, p]]
            for u in range(per):
                buf[r, p * per + u] = a * row[u]


@inline_helper
def _decode_residual(data, cids, centroids, lut, t0, t1, buf):
    nbytes = data.shape[1]
    per = lut.shape[1]
    d = centroids.shape[1]
    for t in range(t0, t1):
        r = t - t0
        for p in range(nbytes):
            row = lut[data[t, p]]
            for u in range(per):
                buf[r, p * per + u] = row[u]
        c = centroids[cids[t]]
        for j in range(d):
            buf[r, j] += c[j]


# ---------------------------------------------------------------------------------------------------------------
# Kernels: (scan = every allowed document of a range into heaps, score = listed documents into an array)


@kernel
def _scan_f32(Q, offsets, data, lo, hi, doc0, allowed, hd, hi_):
    best = np.empty(Q.shape[0], np.float32)
    w = hd[0]
    for i in range(lo, hi):
        t0 = offsets[i]
        t1 = offsets[i + 1]
        if allowed[doc0 + i] == 0 or t1 == t0:
            continue
        dist = -_maxsim_rows(Q, data, t0, t1, best)
        if dist < w:
            heap_replace_top(hd, hi_, dist, doc0 + i)
            w = hd[0]


@kernel
def _score_f32(Q, offsets, data, docs, out):
    best = np.empty(Q.shape[0], np.float32)
    for j in range(docs.shape[0]):
        i = docs[j]
        t0 = offsets[i]
        t1 = offsets[i + 1]
        out[j] = _maxsim_rows(Q, data, t0, t1, best) if t1 > t0 else -np.inf


@kernel
def _scan_int8(Q, offsets, data, scale, lo, hi, doc0, allowed, buf, hd, hi_):
    best = np.empty(Q.shape[0], np.float32)
    w = hd[0]
    for i in range(lo, hi):
        t0 = offsets[i]
        t1 = offsets[i + 1]
        if allowed[doc0 + i] == 0 or t1 == t0:
            continue
        _decode_int8(data, scale, t0, t1, buf)
        dist = -_maxsim_rows(Q, buf, 0, t1 - t0, best)
        if dist < w:
            heap_replace_top(hd, hi_, dist, doc0 + i)
            w = hd[0]


@kernel
def _score_int8(Q, offsets, data, scale, docs, buf, out):
    best = np.empty(Q.shape[0], np.float32)
    for j in range(docs.shape[0]):
        i = docs[j]
        t0 = offsets[i]
        t1 = offsets[i + 1]
        if t1 == t0:
            out[j] = -np.inf
            continue
        _decode_int8(data, scale, t0, t1, buf)
        out[j] = _maxsim_rows(Q, buf, 0, t1 - t0, best)


@kernel
def _scan_binary(Q, offsets, data, alpha, lut, lo, hi, doc0, allowed, buf, hd, hi_):
    best = np.empty(Q.shape[0], np.float32)
    w = hd[0]
    for i in range(lo, hi):
        t0 = offsets[i]
        t1 = offsets[i + 1]
        if allowed[doc0 + i] == 0 or t1 == t0:
            continue
        _decode_binary(data, alpha, lut, t0, t1, buf)
        dist = -_maxsim_rows(Q, buf, 0, t1 - t0, best)
        if dist < w:
            heap_replace_top(hd, hi_, dist, doc0 + i)
            w = hd[0]


@kernel
def _score_binary(Q, offsets, data, alpha, lut, docs, buf, out):
    best = np.empty(Q.shape[0], np.float32)
    for j in range(docs.shape[0]):
        i = docs[j]
        t0 = offsets[i]
        t1 = offsets[i + 1]
        if t1 == t0:
            out[j] = -np.inf
            continue
        _decode_binary(data, alpha, lut, t0, t1, buf)
        out[j] = _maxsim_rows(Q, buf, 0, t1 - t0, best)


@kernel
def _scan_residual(Q, offsets, data, cids, centroids, lut, lo, hi, doc0, allowed, buf, hd, hi_):
    best = np.empty(Q.shape[0], np.float32)
    w = hd[0]
    for i in range(lo, hi):
        t0 = offsets[i]
        t1 = offsets[i + 1]
        if allowed[doc0 + i] == 0 or t1 == t0:
            continue
        _decode_residual(data, cids, centroids, lut, t0, t1, buf)
        dist = -_maxsim_rows(Q, buf, 0, t1 - t0, best)
        if dist < w:
            heap_replace_top(hd, hi_, dist, doc0 + i)
            w = hd[0]


@kernel
def _score_residual(Q, offsets, data, cids, centroids, lut, docs, buf, out):
    best = np.empty(Q.shape[0], np.float32)
    for j in range(docs.shape[0]):
        i = docs[j]
        t0 = offsets[i]
        t1 = offsets[i + 1]
        if t1 == t0:
            out[j] = -np.inf
            continue
        _decode_residual(data, cids, centroids, lut, t0, t1, buf)
        out[j] = _maxsim_rows(Q, buf, 0, t1 - t0, best)


# ---------------------------------------------------------------------------------------------------------------
# Validation


def check_codes(codes: Codes) -> Codes:
    """Validate the shared arrays of an encoding once (the engine can keep the returned, coerced copy)."""
    if not isinstance(codes, Codes):
        raise InvalidArgument(f"codes must be a maxsim.Codes, got {type(codes).__name__}")
    if codes.kind not in KINDS:
        raise InvalidArgument(f"unknown token encoding {codes.kind!r}: choose one of {', '.join(KINDS)}")
    if isinstance(codes.dim, bool) or not isinstance(codes.dim, int | np.integer) or codes.dim < 1:
        raise InvalidArgument(f"token dim must be a positive integer, got {codes.dim!r}")
    d = int(codes.dim)
    scale = lut = centroids = None
    if codes.kind == "int8":
        scale = _f32(codes.scale, "int8 scale")
        if scale.shape != (d,):
            raise InvalidArgument(f"int8 scale must have shape ({d},), got {scale.shape}")
    if codes.kind in ("binary", "residual"):
        lut = _f32(codes.lut, "decode table")
        if lut.ndim != 2 or lut.shape[0] != 256 or lut.shape[1] not in (1, 2, 4, 8):
            raise InvalidArgument(f"decode table must have shape (256, 1|2|4|8), got {lut.shape}")
    if codes.kind == "residual":
        centroids = _f32(codes.centroids, "centroids")
        if centroids.ndim != 2 or centroids.shape[1] != d or centroids.shape[0] < 1:
            raise InvalidArgument(f"centroids must have shape (C >= 1, {d}), got {centroids.shape}")
    return Codes(codes.kind, d, scale, lut, centroids)


def _f32(x, what: str) -> np.ndarray:
    if x is None:
        raise InvalidArgument(f"{what} is missing")
    arr = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise InvalidArgument(f"{what} contains NaN or infinity")
    return arr


def check_blocks(codes: Codes, blocks: list[Block]) -> list[Block]:
    """Coerce and validate blocks against an encoding: offsets, code shapes and dtypes, side arrays."""
    out = []
    nbytes = codes.padded_dim // codes.lut.shape[1] if codes.kind in ("binary", "residual") else codes.dim
    dtype = {"float32": np.float32, "int8": np.int8, "binary": np.uint8, "residual": np.uint8}[codes.kind]
    for b in blocks:
        if not isinstance(b, Block):
            b = Block(*b)
        offsets = np.ascontiguousarray(b.offsets, dtype=np.int64)
        if offsets.ndim != 1 or offsets.shape[0] < 1 or offsets[0] != 0:
            raise InvalidArgument(f"block at doc {b.first_doc}: offsets must be 1-D and start at 0")
        if offsets.shape[0] > 1 and (np.diff(offsets) < 0).any():
            raise InvalidArgument(f"block at doc {b.first_doc}: offsets must be non-decreasing")
        data = b.data
        if data.dtype != dtype or data.ndim != 2 or data.shape[1] != nbytes:
            raise InvalidArgument(
                f"block at doc {b.first_doc}: {codes.kind} token codes must be {np.dtype(dtype).name} "
                f"(T, {nbytes}), got {data.dtype} {data.shape}"
            )
        if data.shape[0] != offsets[-1]:
            raise InvalidArgument(
                f"block at doc {b.first_doc}: offsets end at {offsets[-1]} but there are {data.shape[0]} tokens"
            )
        data = np.ascontiguousarray(data)
        aux = None
        if codes.kind == "binary":
            aux = np.ascontiguousarray(b.aux, dtype=np.float32) if b.aux is not None else None
            if aux is None or aux.shape != (data.shape[0],):
                raise InvalidArgument(f"block at doc {b.first_doc}: binary codes need one scale per token")
        elif codes.kind == "residual":
            if b.aux is None or b.aux.shape != (data.shape[0],) or b.aux.dtype.kind not in "iu":
                raise InvalidArgument(f"block at doc {b.first_doc}: residual codes need one centroid id per token")
            aux = np.ascontiguousarray(b.aux)
            if aux.size and (int(aux.min()) < 0 or int(aux.max()) >= codes.centroids.shape[0]):
                raise InvalidArgument(f"block at doc {b.first_doc}: centroid id out of range")
        out.append(Block(int(b.first_doc), offsets, data, aux))
    return out


def prepare_query(query: object, codes: Codes) -> np.ndarray:
    """A query token set as the kernels need it: (n, padded_dim) float32, finite, at least one token."""
    if isinstance(query, np.ndarray) and query.dtype.kind not in "fiu":
        raise InvalidArgument(f"query tokens must hold numbers, got dtype {query.dtype}")
    try:
        q = np.asarray(query, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"query tokens must be a numeric (n_tokens, dim) array: {e}") from None
    if q.ndim != 2 or q.shape[1] != codes.dim:
        raise InvalidArgument(f"query tokens must have shape (n_tokens, {codes.dim}), got {q.shape}")
    if q.shape[0] == 0:
        raise InvalidArgument("the query has no tokens: a multi-vector query needs at least one token vector")
    if not np.isfinite(q).all():
        raise InvalidArgument("query tokens contain NaN or infinity")
    pad = codes.padded_dim - codes.dim
    if pad:
        q = np.concatenate([q, np.zeros((q.shape[0], pad), np.float32)], axis=1)
    return np.ascontiguousarray(q)


# ---------------------------------------------------------------------------------------------------------------
# Dispatch


def _buffer(codes: Codes, offsets: np.ndarray, docs: np.ndarray | None = None) -> np.ndarray:
    if codes.kind == "float32":
        return np.empty((0, 0), np.float32)
    lengths = np.diff(offsets) if docs is None else offsets[docs + 1] - offsets[docs]
    longest = int(lengths.max()) if lengths.size else 0
    return np.empty((max(longest, 1), codes.padded_dim), np.float32)


def _scan_block(Q, codes: Codes, b: Block, lo: int, hi: int, allowed, hd, hi_) -> None:
    if codes.kind == "float32":
        _scan_f32(Q, b.offsets, b.data, lo, hi, b.first_doc, allowed, hd, hi_)
        return
    buf = _buffer(codes, b.offsets[lo : hi + 1])
    if codes.kind == "int8":
        _scan_int8(Q, b.offsets, b.data, codes.scale, lo, hi, b.first_doc, allowed, buf, hd, hi_)
    elif codes.kind == "binary":
        _scan_binary(Q, b.offsets, b.data, b.aux, codes.lut, lo, hi, b.first_doc, allowed, buf, hd, hi_)
    else:
        _scan_residual(
            Q, b.offsets, b.data, b.aux, codes.centroids, codes.lut, lo, hi, b.first_doc, allowed, buf, hd, hi_
        )


def _score_block(Q, codes: Codes, b: Block, docs: np.ndarray, out: np.ndarray) -> None:
    if codes.kind == "float32":
        _score_f32(Q, b.offsets, b.data, docs, out)
        return
    buf = _buffer(codes, b.offsets, docs)
    if codes.kind == "int8":
        _score_int8(Q, b.offsets, b.data, codes.scale, docs, buf, out)
    elif codes.kind == "binary":
        _score_binary(Q, b.offsets, b.data, b.aux, codes.lut, docs, buf, out)
    else:
        _score_residual(Q, b.offsets, b.data, b.aux, codes.centroids, codes.lut, docs, buf, out)


def _split_by_tokens(offsets: np.ndarray, lo: int, hi: int, parts: int) -> list[tuple[int, int]]:
    """Cut documents [lo, hi) into up to `parts` contiguous ranges of about equal token counts."""
    if parts <= 1 or hi - lo <= 1:
        return [(lo, hi)]
    targets = offsets[lo] + (offsets[hi] - offsets[lo]) * np.arange(1, parts) / parts
    cuts = np.unique(np.clip(np.searchsorted(offsets, targets), lo + 1, hi - 1))
    bounds = [lo, *cuts.tolist(), hi]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def scan_topk(
    query: object,
    codes: Codes,
    blocks: list[Block],
    allowed: np.ndarray,
    k: int,
    *,
    validated: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact MaxSim top-k of one query token set over every allowed document of the blocks.

    query: (n_tokens, dim) float (normalise tokens beforehand if the field is cosine-style). allowed: uint8 per
    global document (0 = deleted or filtered out). Returns (dist, docs), each (k,), ascending by dist = -MaxSim;
    docs are -1 (dist +inf) where fewer than k documents are allowed. `validated=True` skips the checks of codes
    and blocks (the caller ran check_codes / check_blocks once when it loaded them).
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InvalidArgument(f"k must be an integer >= 1, got {k!r}")
    if not validated:
        codes = check_codes(codes)
        blocks = check_blocks(codes, blocks)
    Q = prepare_query(query, codes)
    allowed = np.ascontiguousarray(allowed, dtype=np.uint8)
    if allowed.ndim != 1:
        raise InvalidArgument("allowed must be a 1-D mask over documents")
    for b in blocks:
        if b.first_doc < 0 or b.first_doc + b.n_docs > allowed.shape[0]:
            raise InvalidArgument("allowed mask is shorter than the documents it must cover")
    total_tokens = sum(int(b.offsets[-1]) for b in blocks)
    threads = n_threads()
    tasks = []
    for b in blocks:
        if b.n_docs:
            share = threads if threads > 1 and Q.shape[0] * total_tokens * codes.dim >= _PARALLEL_MIN_WORK else 1
            parts = max(1, round(share * int(b.offsets[-1]) / max(total_tokens, 1)))
            tasks += [(b, lo, hi) for lo, hi in _split_by_tokens(b.offsets, 0, b.n_docs, parts)]

    def run(group: list) -> tuple[np.ndarray, np.ndarray]:
        hd, hi_ = new_heaps(1, k)
        for b, lo, hi in group:
            _scan_block(Q, codes, b, lo, hi, allowed, hd[0], hi_[0])
        return hd, hi_

    if not tasks:
        hd, hi_ = new_heaps(1, k)
    elif threads <= 1 or len(tasks) == 1:
        hd, hi_ = run(tasks)
    else:
        weights = [int(b.offsets[hi] - b.offsets[lo]) for b, lo, hi in tasks]
        groups = _balanced(tasks, weights, threads)
        hd, hi_ = merge_heaps(fan_out(run, [(g,) for g in groups]))
    hd, hi_ = sort_heaps(hd, hi_)
    return hd[0], hi_[0]


def _balanced(tasks: list, weights: list[int], n: int) -> list[list]:
    """Tasks spread over n groups of about equal weight (largest first onto the lightest group)."""
    groups: list[list] = [[] for _ in range(n)]
    load = [0] * n
    for i in sorted(range(len(tasks)), key=lambda i: -weights[i]):
        g = load.index(min(load))
        groups[g].append(tasks[i])
        load[g] += weights[i]
    return [g for g in groups if g]


def score_docs(
    query: object,
    codes: Codes,
    blocks: list[Block],
    docs: object,
    *,
    validated: bool = False,
) -> np.ndarray:
    """Exact MaxSim of one query token set against the listed global documents (re-ranking): (len(docs),)
    float32, higher is better, in the order given (duplicates allowed)."""
    if not validated:
        codes = check_codes(codes)
        blocks = check_blocks(codes, blocks)
    Q = prepare_query(query, codes)
    try:
        docs = np.ascontiguousarray(docs, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"docs must be integer document numbers: {e}") from None
    out = np.empty(docs.shape[0], np.float32)
    if docs.shape[0] == 0:
        return out
    if not blocks:
        raise InvalidArgument(f"document {int(docs[0])} is not in any block (there are no blocks)")
    starts = np.array([b.first_doc for b in blocks], np.int64)
    order = np.argsort(starts, kind="stable")
    starts = starts[order]
    ends = starts + np.array([blocks[i].n_docs for i in order], np.int64)
    which = np.searchsorted(starts, docs, side="right") - 1
    bad = (which < 0) | (docs >= ends[np.maximum(which, 0)])
    if bad.any():
        raise InvalidArgument(f"document {int(docs[np.argmax(bad)])} is not in any block")
    by_block = np.argsort(which, kind="stable")
    cuts = np.flatnonzero(np.diff(which[by_block])) + 1
    jobs = []
    total_tokens = 0
    for sel in np.split(by_block, cuts):  # one job per block that holds candidates, O(len(docs)) overall
        b = blocks[order[which[sel[0]]]]
        local = docs[sel] - b.first_doc
        jobs.append((b, local, sel))
        total_tokens += int((b.offsets[local + 1] - b.offsets[local]).sum())
    threads = n_threads()
    if threads > 1 and Q.shape[0] * total_tokens * codes.dim >= _PARALLEL_MIN_WORK and docs.shape[0] > 1:
        split = []
        for b, local, sel in jobs:
            lengths = b.offsets[local + 1] - b.offsets[local]
            cum = np.cumsum(lengths)
            cuts = np.searchsorted(cum, cum[-1] * np.arange(1, threads) / threads)
            for part in np.split(np.arange(local.shape[0]), np.unique(cuts)):
                if part.size:
                    split.append((b, local[part], sel[part]))
        jobs = split

    def run(group: list) -> list[tuple[np.ndarray, np.ndarray]]:
        res = []
        for b, local, sel in group:
            part = np.empty(local.shape[0], np.float32)
            _score_block(Q, codes, b, local, part)
            res.append((sel, part))
        return res

    if threads <= 1 or len(jobs) == 1:
        results = [run(jobs)]
    else:
        weights = [int((b.offsets[local + 1] - b.offsets[local]).sum()) for b, local, _ in jobs]
        results = fan_out(run, [(g,) for g in _balanced(jobs, weights, threads)])
    for res in results:
        for sel, part in res:
            out[sel] = part
    return out
