"""Bit-code scoring: Hamming (popcount on uint64 words), weighted multi-plane Hamming, float query x bit codes.

Layout: a code of `bits` bits is ceil(bits / 64) uint64 words; bit t lives in word t // 64 at bit t % 64 (least
significant first), i.e. np.packbits(..., bitorder="little") viewed as little-endian uint64. Unused high bits are
zero. Multi-plane codes (learned recurrent binarization) store P planes of W words each, plane after plane.

Distances (smaller is better):
- hamming: number of differing bits.
- weighted: sum_ij w[i, j] * hamming(query plane i, row plane j). With sign planes b_i in {-1, +1}^bits and
  B = sum_i a_i b_i, <Bq, Bx> = sum_ij a_i a_j (bits - 2 hamming_ij), so w[i, j] = a_i a_j ranks rows exactly
  by -<Bq, Bx>; `to_similarity` gives that inner product back.
- asymmetric: -sum_j a_j <q, 2 b_j - 1> for a float query q (a dot product with the +-1 code, no query
  quantization). It runs as ADC (kernels/pq.py) with one 256-entry table per code byte.
"""

from __future__ import annotations

import numpy as np
from numba import carray

from ..errors import InvalidArgument
from ..jit import inline_helper, kernel
from . import pq
from ._intrinsics import u8_pointer
from ._parallel import as_allowed, check_blocks, check_k, fused_topk
from .queries import OK, _prepare_row
from .rescore import _row_address, rescore_rows
from .topk import _sort_lex, heap_fill_lex, heap_replace_top, lex_sift, new_heaps, sort_heaps


def _make_popcount():
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def popcount64(typingctx, x):
        if not isinstance(x, types.Integer):
            return None
        sig = types.int64(x)

        def codegen(context, builder, signature, args):
            v = args[0]
            if v.type.width < 64:
                v = builder.zext(v, ir.IntType(64))
            fn = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
            return builder.call(fn, [v])

        return sig, codegen

    return popcount64


# llvm.ctpop compiles to the POPCNT instruction (and vectorises with AVX-512 VPOPCNTDQ where present).
_popcount = _make_popcount()

WORD_BITS = 64
SAMPLE_STEP = 16  # Hamming selection: every 16th row's distance bounds the k-th smallest first (see _hamming_select)


def words_for(bits: int) -> int:
    """uint64 words per plane of `bits` bits."""
    return (int(bits) + WORD_BITS - 1) // WORD_BITS


UNROLL_WORDS = 16  # codes up to 1,024 bits get a Hamming loop compiled for their exact width (see word_count)


def word_count(nw: int) -> tuple:
    """The `words` argument of the Hamming kernels for codes of nw words: a tuple of that length (its type carries
    the width, so Numba compiles a per-row loop of a constant trip count, unrolled), or () past UNROLL_WORDS."""
    return (0,) * nw if nw <= UNROLL_WORDS else ()


@inline_helper
def _row_distance(q, X, r, words):
    # Hamming distance of q to row r of X. With a word count in the type (len(words) > 0, see word_count) the word
    # loop has a constant trip count and unrolls: 6-word codes 1.8x faster than words outer, rows inner.
    s = 0
    nw = len(words)
    if nw > 0:
        for j in range(nw):
            s += _popcount(q[j] ^ X[r, j])
    else:
        for j in range(X.shape[1]):
            s += _popcount(q[j] ^ X[r, j])
    return s


@inline_helper
def _select_at(kd, hist, top, k, rows, n, row0, sel_d, sel_i):
    # rows[:n] (ascending, kd[:n] their distances, hist their histogram) -> their k best by (distance, row)
    tau = top  # fewer than k rows: every one (distance < top)
    at_tau = 0  # rows to take at distance tau: the lowest ones
    below = 0  # rows with a distance < t
    for t in range(top):
        if below + hist[t] >= k:
            tau = t
            at_tau = k - below
            break
        below += hist[t]
    m = 0
    for j in range(n):  # branch-free: about half the kept rows are taken, in no pattern a predictor could learn
        if m == k:
            break
        d = kd[j]
        sel_d[m] = np.float32(d)
        sel_i[m] = row0 + rows[j]
        tie = np.int64(d == tau)
        take = np.int64(d < tau) | (tie & np.int64(at_tau > 0))
        at_tau -= take & tie
        m += take
    return m


@inline_helper
def _sample_want(nb, k):
    # how many of every SAMPLE_STEP-th row's best bound the k best of nb (twice their expected share, and a few
    # more); 0 where a sample is too small to say (few rows, or k a large share of them): count every row then
    if nb >= 16 * SAMPLE_STEP and k * 8 <= nb:
        return 2 * k // SAMPLE_STEP + 8
    return 0


@inline_helper
def _hamming_select(q, X, row0, allowed, k, kd, rows, hist, sel_d, sel_i, words):
    # The block's k best rows by (Hamming distance, row) into sel_d / sel_i (row order); returns how many (fewer
    # than k when fewer rows are allowed); ties go to the lowest rows, as in a stable sort of every row.
    # The k-th smallest distance, tau, comes from a histogram over the few possible distances. A histogram of every
    # SAMPLE_STEP-th row's distance first bounds tau generously; one pass then computes every distance and keeps
    # the allowed rows within the bound (rows, their distances in kd), and the exact histogram of those gives tau.
    # Where the bound kept fewer than k rows (a sample's bad luck, a selective filter), every allowed row is kept.
    # One pass over the codes, not one to compute distances and another to read them back: 100k one-word codes
    # 1.6-2x faster. kd, rows: scratch of at least len(X); words: see word_count.
    nw = X.shape[1]
    nb = X.shape[0]
    top = nw * WORD_BITS + 1  # larger than any distance
    want = _sample_want(nb, k)
    if want:
        hist[:] = 0
        for r in range(0, nb, SAMPLE_STEP):
            if allowed[row0 + r] != 0:
                hist[_row_distance(q, X, r, words)] += 1
        bound = -1
        acc = 0
        for t in range(top):
            acc += hist[t]
            if acc >= want:
                bound = t
                break
        if bound >= 0:
            n = 0
            if k * 20 >= nb:  # many kept (GloVe, k 8% of the rows: 18% within the bound): branch-free, 1.5x faster
                for r in range(nb):
                    d = _row_distance(q, X, r, words)
                    rows[n] = r
                    kd[n] = d
                    n += np.int64(d <= bound) & np.int64(allowed[row0 + r] != 0)
            else:  # few: a predictable branch (k 1%: 1.4x faster than branch-free)
                for r in range(nb):
                    d = _row_distance(q, X, r, words)
                    if d <= bound and allowed[row0 + r] != 0:
                        rows[n] = r
                        kd[n] = d
                        n += 1
            if n >= k:
                hist[:] = 0
                for j in range(n):
                    hist[kd[j]] += 1
                return _select_at(kd, hist, top, k, rows, n, row0, sel_d, sel_i)
    hist[:] = 0
    n = 0
    for r in range(nb):
        if allowed[row0 + r] != 0:
            d = _row_distance(q, X, r, words)
            rows[n] = r
            kd[n] = d
            n += 1
            hist[d] += 1
    return _select_at(kd, hist, top, k, rows, n, row0, sel_d, sel_i)


@kernel
def _hamming_scan(Q, X, row0, allowed, hd, hi, words):
    # per query: the block's k best (_hamming_select), merged into the query's heap at once
    nq, nw = Q.shape
    nb = X.shape[0]
    k = hd.shape[1]
    buf = np.empty(nb, np.int32)
    rows = np.empty(nb, np.int64)
    hist = np.empty(nw * WORD_BITS + 2, np.int32)
    sel_d = np.empty(min(k, nb), np.float32)
    sel_i = np.empty(min(k, nb), np.int64)
    for qi in range(nq):
        m = _hamming_select(Q[qi], X, row0, allowed, k, buf, rows, hist, sel_d, sel_i, words)
        heap_fill_lex(hd[qi], hi[qi], sel_d, sel_i, m)


@inline_helper
def _rescored_top(q, addrs, block_rows, cand, m, l2, ids, out_d, out_r, out_id):
    # the len(out_d) best of cand[:m] by exact distance, read in place, ascending by (distance, row), written as
    # graph.search_one writes them: out_d the user's score (-distance for dot / cosine, the Euclidean distance for
    # l2: IEEE sqrt, bit for bit with numpy's), out_r the row, out_id its point id (ids[row]); returns how many
    # there are (the rest: +inf or -inf, -1)
    out_d[:] = np.inf
    out_r[:] = -1
    rescore_rows(q, addrs, block_rows, cand, m, l2, out_d, out_r)
    _sort_lex(out_d, out_r)
    j = 0
    for t in range(out_d.shape[0]):
        if out_r[t] >= 0:
            out_id[t] = ids[out_r[t]]
            j += 1
        out_d[t] = np.sqrt(out_d[t]) if l2 else -out_d[t]
    return j


@inline_helper
def _query_tables(work, mean, scale, nbytes):
    # the asymmetric byte tables of a prepared query for codes of nbytes bytes: z = (q - mean) * scale, as
    # SignCodec.prepare projects it, through byte_tables with one plane of weight 1
    d = work.shape[0]
    z = np.empty(d, np.float32)
    for j in range(d):
        z[j] = (work[j] - mean[j]) * scale[j]
    tables = np.empty(nbytes * 256, np.float32)
    byte_tables(z, d, np.ones(1, np.float32), tables)
    return tables


@kernel
def sign_search_one(q, cosine, mean, scale, codes, code_addrs, allowed, n_pre, n_cand, addrs, block_rows, l2, ids,
                    out_d, out_r, out_id, words):  # fmt: skip
    """One query of a sign-binarized field (one bit per dimension, Hamming scoring), end to end: prepared as
    every path prepares it (queries._prepare_row), binarized as the codec does (bit j of word w set where
    q[64w + j] - mean[64w + j] > 0), its n_cand best code rows by (Hamming distance, row), and the k = len(out_d)
    best of those by exact distance, read in place from the float blocks (rescore.rescore_in_blocks' arithmetic and
    order), into out_d / out_r / out_id as _rescored_top writes them. words: word_count(codes.shape[1]).
    n_pre > n_cand (scoring "hamming+asymmetric"): the n_pre best by Hamming distance first, of which the n_cand
    best by the asymmetric score -<(q - mean) * scale, 2b - 1> (asymmetric_select over the code rows at
    code_addrs, one block) go on to the rescoring.
    Returns the results written (min(k, allowed rows)), or -status when the query fails its preparation
    (queries.*: nothing searched; the general path reports the error)."""
    work = np.empty(q.shape[0], np.float32)
    st = _prepare_row(q, work, cosine)
    if st != OK:
        return -st
    nb, nw = codes.shape
    qc = np.zeros(nw, np.uint64)
    for j in range(q.shape[0]):
        if work[j] - mean[j] > 0:
            qc[j >> 6] |= np.uint64(1) << np.uint64(j & 63)
    first = max(n_pre, n_cand)
    buf = np.empty(nb, np.int32)
    rows = np.empty(nb, np.int64)
    hist = np.empty(nw * WORD_BITS + 2, np.int32)
    sel_d = np.empty(min(first, nb), np.float32)
    sel_i = np.empty(min(first, nb), np.int64)
    m = _hamming_select(qc, codes, 0, allowed, first, buf, rows, hist, sel_d, sel_i, words)
    if n_pre > n_cand:
        tables = _query_tables(work, mean, scale, nw * 8)
        cand = np.empty(n_cand, np.int64)
        n = asymmetric_select(tables, code_addrs, nb, nw * 8, sel_i, m, n_cand, np.empty(m, np.float32), cand,
                              np.empty(n_cand, np.float32))  # fmt: skip
        return _rescored_top(work, addrs, block_rows, cand, n, l2, ids, out_d, out_r, out_id)
    return _rescored_top(work, addrs, block_rows, sel_i, m, l2, ids, out_d, out_r, out_id)


@inline_helper
def _select_floats(scores, allowed, rows, hd, hi):
    # The len(hd) smallest (score, row) pairs of the allowed rows into the (distance, row) heap hd / hi, offered in
    # row order. A heap of every SAMPLE_STEP-th allowed row's scores bounds the cut first; one pass keeps the allowed
    # rows within the bound (rows: scratch of len(scores)), and only those are offered; where they are fewer than
    # asked (a sample's bad luck, a selective filter), every allowed row is offered.
    nb = scores.shape[0]
    k = hd.shape[0]
    want = _sample_want(nb, k)
    if want:
        sd = np.full(want, np.inf, np.float32)
        si = np.full(want, -1, np.int64)
        for r in range(0, nb, SAMPLE_STEP):
            if allowed[r] != 0 and scores[r] < sd[0]:
                lex_sift(sd, si, 0, want, scores[r], r)
        if si[0] >= 0:  # the sample filled its heap: its worst score bounds the cut
            bound = sd[0]
            n = 0
            for r in range(nb):
                if scores[r] <= bound and allowed[r] != 0:
                    rows[n] = r
                    n += 1
            if n >= k:
                w = hd[0]
                for j in range(n):
                    s = scores[rows[j]]
                    if s < w:
                        lex_sift(hd, hi, 0, k, s, rows[j])
                        w = hd[0]
                return
    w = hd[0]
    for r in range(nb):
        s = scores[r]
        if s < w and allowed[r] != 0:
            lex_sift(hd, hi, 0, k, s, r)
            w = hd[0]


@kernel
def sign_asym_search_one(
    q,
    cosine,
    mean,
    scale,
    code_bytes,
    allowed,
    n_cand,
    addrs,
    block_rows,
    l2,
    ids,
    out_d,
    out_r,
    out_id,
    centroids,
    probe,
    order,
    starts,
):
    """sign_search_one for asymmetric scoring (SignBinary(scoring="asymmetric")): the float query against the bit
    codes, -<(q - mean) * scale, 2b - 1>, through the byte tables and the ADC row scan the general path uses
    (byte_tables, pq.adc_scan_rows: the same sums in the same order), its n_cand best by (score, row), rescored
    exactly in place. code_bytes: the codes as (rows, 8 * words) uint8. Outputs and return as sign_search_one.
    probe > 0 (SignBinary(lists=...)): only the rows of the query's probe nearest lists are scored (order / starts:
    ivf_lists of the codes; code_bytes then in list order, list_order_bytes), as ivf_asymmetric_scan_topk scores
    them."""
    work = np.empty(q.shape[0], np.float32)
    st = _prepare_row(q, work, cosine)
    if st != OK:
        return -st
    tables = _query_tables(work, mean, scale, ((q.shape[0] + WORD_BITS - 1) // WORD_BITS) * 8)  # the sign bytes
    nb = code_bytes.shape[0]
    hd = np.full(n_cand, np.inf, np.float32)
    hi = np.full(n_cand, -1, np.int64)
    if probe > 0:
        lists = np.empty(probe, np.int64)
        m = _ivf_probe_one(work, centroids, l2, probe, lists)
        _ivf_asym_one(tables, code_bytes, allowed, lists, m, order, starts, hd, hi)
    else:
        scores = np.empty(nb, np.float32)
        pq.adc_scores(tables, code_bytes, scores)
        _select_floats(scores, allowed, np.empty(nb, np.int64), hd, hi)
    return _rescored_top(work, addrs, block_rows, hi, n_cand, l2, ids, out_d, out_r, out_id)


# ------------------------------------------------------------------ an inverted-file front end (SignBinary(lists=))
# Each code row carries the number of its nearest centroid ("list") in bits of its own that no sign uses: the top
# bits of the last word when the signs leave enough of them free (GloVe's 50 signs leave 14), else one more word.
# The rows of each list are gathered once per snapshot (ivf_lists: a counting sort, rows ascending in each list),
# and the code bytes copied in that order (list_order_bytes), so a list's codes are one run of memory;
# a query scores only the rows of its `probe` nearest lists; its candidates are the best of those by (asymmetric
# score, row), as everywhere.


@kernel
def ivf_lists(code_words, lword, lshift, lmask):
    """(order, starts): the rows grouped by the list number their codes carry ((word lword >> lshift) & lmask),
    rows ascending within a list; list l's rows are order[starts[l]:starts[l + 1]]."""
    nb = code_words.shape[0]
    nl = np.int64(lmask) + 1
    starts = np.zeros(nl + 1, np.int64)
    for r in range(nb):
        starts[np.int64((code_words[r, lword] >> lshift) & lmask) + 1] += 1
    for t in range(nl):
        starts[t + 1] += starts[t]
    fill = starts[:nl].copy()
    order = np.empty(nb, np.int64)
    for r in range(nb):
        li = np.int64((code_words[r, lword] >> lshift) & lmask)
        order[fill[li]] = r
        fill[li] += 1
    return order, starts


def list_order_bytes(words: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The codes' bytes in list order (row order[j] at j), for _ivf_asym_one."""
    return np.ascontiguousarray(_byte_view(words)[order])


@inline_helper
def _ivf_probe_one(q, centroids, l2, probe, out):
    # out[:probe] = the probe lists nearest q, by |q - c|^2 (l2) or -<q, c> (dot, cosine), ties to the lower list;
    # written in ascending list order (the order their rows are taken in); returns how many
    nl, d = centroids.shape
    m = min(probe, nl)
    s = np.empty(nl, np.float32)
    if l2:  # the branch outside the loops, so each dot product vectorises
        for c in range(nl):
            acc = np.float32(0.0)
            for j in range(d):
                t = q[j] - centroids[c, j]
                acc += t * t
            s[c] = acc
    else:
        for c in range(nl):
            acc = np.float32(0.0)
            for j in range(d):
                acc -= q[j] * centroids[c, j]
            s[c] = acc
    hd = np.full(m, np.inf, np.float32)  # a max-heap of the m best (score, list); lists offered ascending
    hi = np.full(m, -1, np.int64)
    for c in range(nl):
        if s[c] < hd[0] or hi[0] < 0:
            lex_sift(hd, hi, 0, m, s[c], c)
    out[:m] = np.sort(hi)
    return m


@kernel
def ivf_probe(Q, centroids, l2, probe, out):
    """out[qi, :probe] = the lists each query scores (see _ivf_probe_one), ascending."""
    for qi in range(Q.shape[0]):
        _ivf_probe_one(Q[qi], centroids, l2, probe, out[qi])


@inline_helper
def _ivf_asym_one(t, list_codes, allowed, lists, m, order, starts, hd, hi):
    # the len(hd) best allowed rows of lists[:m] by (asymmetric score, row) into hd (scores) / hi (rows), in no
    # order; where those lists hold fewer allowed rows than that (a selective filter), every allowed row is scored:
    # k results whenever k rows are allowed. list_codes: the code bytes in list order (list_codes[j] is row
    # order[j]'s), so a list's codes are read in one run. Scratch is sized to the lists' rows: buffers of every row,
    # fresh each query, cost more in page faults than the scoring.
    nb = list_codes.shape[0]
    rb = t.shape[0] // 256  # the sign bytes (a list number in a word of its own is no part of the score)
    k = hd.shape[0]
    size = 0
    for li in range(m):
        size += starts[lists[li] + 1] - starts[lists[li]]
    pos = np.empty(max(size, 1), np.int64)  # positions in list order of the allowed rows scored
    n = 0
    for li in range(m):
        for j in range(starts[lists[li]], starts[lists[li] + 1]):
            pos[n] = j
            n += np.int64(allowed[order[j]] != 0)
    if n < k:
        pos = np.empty(nb, np.int64)
        n = 0
        for j in range(nb):
            pos[n] = j
            n += np.int64(allowed[order[j]] != 0)
    scores = np.empty(n, np.float32)
    n8 = n - n % 8
    for j in range(0, n8, 8):  # eight sums at once hide the table reads' latency (each in _sum1's order)
        (scores[j], scores[j + 1], scores[j + 2], scores[j + 3], scores[j + 4], scores[j + 5], scores[j + 6],
         scores[j + 7]) = _sum8_rows(t, list_codes, pos, j, rb)  # fmt: skip
    for j in range(n8, n):
        scores[j] = pq._sum1(t, list_codes[pos[j]], rb)
    for j in range(n):
        pos[j] = order[pos[j]]  # now rows
    _select_pairs(scores, pos, n, hd, hi)


@inline_helper
def _select_pairs(scores, rows, n, out_d, out_r):
    # The k = len(out_d) best (score, row) pairs of scores[:n] / rows[:n] (rows distinct, in any order) into
    # out_d / out_r, in no order, padded (+inf, -1). Every SAMPLE_STEP-th score bounds the k-th smallest first
    # (a partition of the sample), the scores within the bound are kept (all of them where the sample misled), a
    # partition of those gives the k-th smallest, tau; ties at tau go to the lowest rows. A heap of 1,000 over
    # 18,000 scores took 200 us; this ~30.
    k = out_d.shape[0]
    out_d[:] = np.inf
    out_r[:] = -1
    if n <= k:
        for j in range(n):
            out_d[j] = scores[j]
            out_r[j] = rows[j]
        return
    bound = np.float32(np.inf)
    want = _sample_want(n, k)
    if want:
        ns = (n + SAMPLE_STEP - 1) // SAMPLE_STEP
        sample = np.empty(ns, np.float32)
        for u in range(ns):
            sample[u] = scores[u * SAMPLE_STEP]
        bound = np.partition(sample, want - 1)[want - 1]
    m = 0
    for j in range(n):
        m += np.int64(scores[j] <= bound)
    if m < k:  # the sample's bad luck: keep every score
        bound = np.float32(np.inf)
        m = n
    kept_d = np.empty(m, np.float32)
    kept_p = np.empty(m, np.int64)
    m = 0
    for j in range(n):
        if scores[j] <= bound:
            kept_d[m] = scores[j]
            kept_p[m] = j
            m += 1
    tau = np.partition(kept_d[:m].copy(), k - 1)[k - 1]
    w = 0
    ties = 0
    for j in range(m):
        if kept_d[j] < tau:
            out_d[w] = kept_d[j]
            out_r[w] = rows[kept_p[j]]
            w += 1
        elif kept_d[j] == tau:
            ties += 1
    tie_rows = np.empty(ties, np.int64)
    u = 0
    for j in range(m):
        if kept_d[j] == tau:
            tie_rows[u] = rows[kept_p[j]]
            u += 1
    tie_rows.sort()
    for u in range(k - w):
        out_d[w + u] = tau
        out_r[w + u] = tie_rows[u]


@inline_helper
def _sum8_rows(t, C, rows, j, m):
    # pq._sum8 for the eight rows rows[j:j + 8]
    return pq.sum8_of(t, C[rows[j]], C[rows[j + 1]], C[rows[j + 2]], C[rows[j + 3]], C[rows[j + 4]], C[rows[j + 5]],
                      C[rows[j + 6]], C[rows[j + 7]], m)  # fmt: skip


@kernel
def _ivf_asym_scan(T, code_bytes, allowed, lists, m, order, starts, hd, hi):
    for qi in range(T.shape[0]):
        _ivf_asym_one(T[qi], code_bytes, allowed, lists[qi], m, order, starts, hd[qi], hi[qi])


def ivf_asymmetric_scan_topk(
    queries: np.ndarray,
    blocks: list[tuple[int, np.ndarray]],
    allowed: np.ndarray,
    k: int,
    lists: np.ndarray,
    lword: int,
    lshift: int,
    lmask: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by the asymmetric score (as asymmetric_scan_topk) over the rows of each query's lists (a row of
    `lists`, (nq, probe) list numbers ascending, from ivf_probe), a row's list being (code word lword >> lshift) &
    lmask; every allowed row where those lists hold fewer than k allowed rows. Ties go to the lowest rows.
    blocks: the codes as (first_row, (n, W) uint64) from row 0. (dist, rows) ascending, padded (+inf, -1)."""
    q = np.asarray(queries)
    if q.ndim != 2:
        raise InvalidArgument(f"queries must be 2-D, got shape {q.shape}")
    k = check_k(k)
    allowed = as_allowed(allowed)
    blocks = [(int(r0), np.asarray(x)) for r0, x in blocks]
    width = blocks[0][1].shape[1] if blocks else words_for(q.shape[1])
    blocks = check_blocks(blocks, width, np.dtype(np.uint64), allowed, "binary code")
    sizes = [x.shape[0] for _, x in blocks]
    if [r0 for r0, _ in blocks] != [sum(sizes[:i]) for i in range(len(blocks))]:
        raise InvalidArgument("code blocks must follow each other from row 0")
    if words_for(q.shape[1]) > width:
        raise InvalidArgument(f"queries of {q.shape[1]} dimensions need codes of {words_for(q.shape[1])} words")
    words = np.concatenate([x for _, x in blocks]) if len(blocks) != 1 else blocks[0][1]
    if words.shape[0] == 0:
        return new_heaps(q.shape[0], k)
    lists = np.ascontiguousarray(lists, dtype=np.int64)
    if lists.ndim != 2 or lists.shape[0] != q.shape[0] or not 0 <= lword < width:
        raise InvalidArgument(f"lists must be (queries, probe) list numbers, got {lists.shape}")
    if lists.size and (lists.min() < 0 or lists.max() > lmask):
        raise InvalidArgument(f"list numbers must be in [0, {lmask}]")
    order, starts = ivf_lists(words, lword, np.uint64(lshift), np.uint64(lmask))
    tables = asymmetric_tables(q, q.shape[1], np.ones(1, np.float32))
    hd, hi = new_heaps(q.shape[0], k)
    _ivf_asym_scan(tables.reshape(q.shape[0], -1), list_order_bytes(words, order), allowed, lists, lists.shape[1],
                   order, starts, hd, hi)  # fmt: skip
    return sort_heaps(hd, hi)


@kernel
def _weighted_scan(Q, X, nw, weights, row0, allowed, hd, hi):
    # Q: (nq, pq * nw) query planes; X: (nb, px * nw) row planes; weights: (pq, px).
    nq = Q.shape[0]
    pq_, px = weights.shape
    nb = X.shape[0]
    q2 = nq - nq % 2
    for qi in range(0, q2, 2):
        a = Q[qi]
        b = Q[qi + 1]
        w0 = hd[qi, 0]
        w1 = hd[qi + 1, 0]
        for r in range(nb):
            if allowed[row0 + r] == 0:
                continue
            x = X[r]
            s0 = np.float32(0.0)
            s1 = np.float32(0.0)
            for j in range(px):
                xo = j * nw
                for i in range(pq_):
                    qo = i * nw
                    c0 = 0
                    c1 = 0
                    for t in range(nw):
                        xt = x[xo + t]
                        c0 += _popcount(a[qo + t] ^ xt)
                        c1 += _popcount(b[qo + t] ^ xt)
                    s0 += weights[i, j] * c0
                    s1 += weights[i, j] * c1
            if s0 < w0:
                heap_replace_top(hd[qi], hi[qi], s0, row0 + r)
                w0 = hd[qi, 0]
            if s1 < w1:
                heap_replace_top(hd[qi + 1], hi[qi + 1], s1, row0 + r)
                w1 = hd[qi + 1, 0]
    for qi in range(q2, nq):
        a = Q[qi]
        w0 = hd[qi, 0]
        for r in range(nb):
            if allowed[row0 + r] == 0:
                continue
            x = X[r]
            s0 = np.float32(0.0)
            for j in range(px):
                for i in range(pq_):
                    c0 = 0
                    for t in range(nw):
                        c0 += _popcount(a[i * nw + t] ^ x[j * nw + t])
                    s0 += weights[i, j] * c0
            if s0 < w0:
                heap_replace_top(hd[qi], hi[qi], s0, row0 + r)
                w0 = hd[qi, 0]


@kernel
def _weighted_distances(Q, X, rows, nw, weights, out):
    nq = Q.shape[0]
    pq_, px = weights.shape
    for u in range(rows.shape[0]):
        x = X[rows[u]]
        for qi in range(nq):
            a = Q[qi]
            s = np.float32(0.0)
            for j in range(px):
                for i in range(pq_):
                    c = 0
                    for t in range(nw):
                        c += _popcount(a[i * nw + t] ^ x[j * nw + t])
                    s += weights[i, j] * c
            out[qi, u] = s


# ------------------------------------------------------------------ packing


def pack_signs(x: np.ndarray) -> np.ndarray:
    """(n, d) floats -> (n, words_for(d)) uint64 codes, bit set where x > 0."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise InvalidArgument(f"expected a 2-D array, got shape {x.shape}")
    return pack_bits(x > 0)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """(n, nbits) booleans / 0-1 values -> (n, words_for(nbits)) uint64 codes (bit t of a row = column t)."""
    b = np.asarray(bits)
    if b.ndim != 2:
        raise InvalidArgument(f"expected a 2-D array of bits, got shape {b.shape}")
    n, nbits = b.shape
    nw = words_for(nbits)
    packed = np.packbits(b.astype(bool), axis=1, bitorder="little")
    out = np.zeros((n, nw * 8), np.uint8)
    out[:, : packed.shape[1]] = packed
    return out.view("<u8").astype(np.uint64, copy=False)


def unpack_bits(codes: np.ndarray, bits: int) -> np.ndarray:
    """(n, W) uint64 codes -> (n, bits) uint8 0/1 (inverse of pack_bits)."""
    codes = _as_words(codes, None, "codes")
    if bits > codes.shape[1] * WORD_BITS:
        raise InvalidArgument(f"{bits} bits do not fit in {codes.shape[1]} words")
    raw = np.ascontiguousarray(codes).astype("<u8", copy=False).view(np.uint8)
    return np.unpackbits(raw, axis=1, bitorder="little")[:, :bits]


def from_packed_bytes(packed: np.ndarray, bits: int, bitorder: str = "big") -> np.ndarray:
    """User-supplied packed binary embeddings -> vecdb's uint64 code layout.

    packed: (n, ceil(bits / 8)) uint8 as made by np.packbits (bitorder "big", numpy's and sentence-transformers'
    default "ubinary") or bitorder "little". Bits beyond `bits` are cleared so padding never counts in a distance.
    """
    p = np.asarray(packed)
    if p.ndim != 2 or p.dtype != np.uint8:
        raise InvalidArgument(f"packed bits must be a 2-D uint8 array, got {p.dtype} {p.shape}")
    if bitorder not in ("big", "little"):
        raise InvalidArgument(f"bitorder must be 'big' or 'little', got {bitorder!r}")
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or bits < 1:
        raise InvalidArgument(f"bits must be a positive integer, got {bits!r}")
    if p.shape[1] != (bits + 7) // 8:
        raise InvalidArgument(f"{bits} bits pack into {(bits + 7) // 8} bytes per row, got {p.shape[1]}")
    return pack_bits(np.unpackbits(p, axis=1, bitorder=bitorder, count=bits))


def to_similarity(weighted_dist: np.ndarray, bits: int, weights: np.ndarray) -> np.ndarray:
    """Weighted Hamming distance -> <Bq, Bx> = sum_ij w_ij (bits - 2 hamming_ij) (padding stays -inf)."""
    w = np.asarray(weights, np.float64)
    return (bits * w.sum() - 2.0 * np.asarray(weighted_dist, np.float64)).astype(np.float32)


def _as_words(codes: object, width: int | None, what: str) -> np.ndarray:
    c = np.asarray(codes)
    if c.ndim != 2:
        raise InvalidArgument(f"{what} must be a 2-D array of uint64 words, got shape {c.shape}")
    if c.dtype != np.uint64:
        hint = " (use from_packed_bytes for np.packbits output)" if c.dtype == np.uint8 else ""
        raise InvalidArgument(f"{what} must be uint64 words, got dtype {c.dtype}{hint}")
    if width is not None and c.shape[1] != width:
        raise InvalidArgument(f"{what} have {c.shape[1]} words per row, expected {width}")
    return np.ascontiguousarray(c)


def _check_weights(weights: object) -> np.ndarray:
    w = np.ascontiguousarray(weights, dtype=np.float32)
    if w.ndim != 2 or 0 in w.shape:
        raise InvalidArgument(f"plane weights must be a non-empty 2-D (query planes, row planes) array, got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise InvalidArgument("plane weights must be finite and >= 0")
    return w


# ------------------------------------------------------------------ public scans


def scan_topk(
    queries: np.ndarray,
    blocks: list[tuple[int, np.ndarray]],
    allowed: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k rows by Hamming distance. queries: (nq, W) uint64; blocks: (first_row, (n, W) uint64) pairs.

    Returns (dist, rows), each (nq, k), ascending (ties broken by row); padded with (+inf, -1)."""
    queries = _as_words(queries, None, "query codes")
    k = check_k(k)
    allowed = as_allowed(allowed)
    blocks = check_blocks(blocks, queries.shape[1], np.dtype(np.uint64), allowed, "binary code")
    words = word_count(queries.shape[1])

    def scan(Q, X, row0, allowed, hd, hi):
        _hamming_scan(Q, X, row0, allowed, hd, hi, words)

    return fused_topk(scan, queries, blocks, allowed, k, max(queries.shape[1], 4))


def _plane_words(queries: np.ndarray, weights: np.ndarray) -> int:
    pq_ = weights.shape[0]
    if queries.shape[1] % pq_:
        raise InvalidArgument(f"query codes of {queries.shape[1]} words do not split into {pq_} planes")
    return queries.shape[1] // pq_


def weighted_scan_topk(
    queries: np.ndarray,
    blocks: list[tuple[int, np.ndarray]],
    allowed: np.ndarray,
    k: int,
    weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by weighted multi-plane Hamming distance sum_ij weights[i, j] * hamming(q plane i, row plane j).

    queries: (nq, Pq * W) uint64, blocks of (n, Px * W) uint64, weights: (Pq, Px) float32 >= 0."""
    weights = _check_weights(weights)
    queries = _as_words(queries, None, "query codes")
    nw = _plane_words(queries, weights)
    k = check_k(k)
    allowed = as_allowed(allowed)
    blocks = check_blocks(blocks, weights.shape[1] * nw, np.dtype(np.uint64), allowed, "binary code")

    def scan(q, x, row0, al, hd, hi):
        _weighted_scan(q, x, nw, weights, row0, al, hd, hi)

    return fused_topk(scan, queries, blocks, allowed, k, weights.size * nw)


def distances(queries: np.ndarray, codes: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Hamming distances (nq, len(rows)) float32 to the selected code rows (all rows when rows is None)."""
    return weighted_distances(queries, codes, rows, np.ones((1, 1), np.float32))


def weighted_distances(
    queries: np.ndarray, codes: np.ndarray, rows: np.ndarray | None, weights: np.ndarray
) -> np.ndarray:
    """Weighted multi-plane Hamming distances (nq, len(rows)) float32 to the selected code rows."""
    weights = _check_weights(weights)
    queries = _as_words(queries, None, "query codes")
    nw = _plane_words(queries, weights)
    codes = _as_words(codes, weights.shape[1] * nw, "codes")
    rows = pq._check_rows(rows, codes.shape[0])
    out = np.empty((queries.shape[0], rows.shape[0]), np.float32)
    if out.size:
        _weighted_distances(queries, codes, rows, nw, weights, out)
    return out


# ------------------------------------------------------------------ float query x bit codes


@inline_helper
def byte_tables(z, bits, a, out):
    """out[j * B * 256 + p * 256 + v] = -a[j] * sum_t (+z[8p + t] if bit t of v else -z[8p + t]), t < 8, for every
    plane weight a[j] and code byte p < B = len(out) // (256 * len(a)); dimensions >= bits count as 0. Built by
    subsets (the table of v is the table of v without its lowest bit, plus twice that bit's value): 256 additions a
    byte instead of 2,048, in one order every path shares (so the single-query kernel and the scan agree bit for
    bit)."""
    nbytes = out.shape[0] // (256 * a.shape[0])
    for p in range(nbytes):
        base = np.float32(0.0)
        for t in range(8):
            d = 8 * p + t
            if d < bits:
                base -= z[d]
        off = p * 256
        out[off] = base
        for v in range(1, 256):
            low = v & -v
            t = 0
            while (low >> t) != 1:
                t += 1
            d = 8 * p + t
            zt = z[d] if d < bits else np.float32(0.0)
            out[off + v] = out[off + (v & (v - 1))] + np.float32(2.0) * zt
    plane = nbytes * 256
    for j in range(a.shape[0] - 1, -1, -1):  # planes from the last, so plane 0's raw sums are read before scaling
        for u in range(plane):
            out[j * plane + u] = -(a[j] * out[u])


@kernel
def _asymmetric_tables(Q, bits, a, out):
    for qi in range(Q.shape[0]):
        byte_tables(Q[qi], bits, a, out[qi])


def asymmetric_tables(queries: np.ndarray, bits: int, plane_weights: np.ndarray) -> np.ndarray:
    """(nq, P * W * 8, 256) byte tables: table[p, v] = -a_j * sum of +-q over the 8 dimensions of code byte p."""
    a = np.ascontiguousarray(plane_weights, dtype=np.float32).reshape(-1)
    if a.size == 0 or not np.isfinite(a).all():
        raise InvalidArgument("plane weights must be a non-empty finite vector")
    q = np.ascontiguousarray(pq._float_queries(queries, bits), dtype=np.float32)
    nw = words_for(bits)
    out = np.empty((q.shape[0], a.size * nw * 8 * 256), np.float32)
    _asymmetric_tables(q, bits, a, out)
    return out.reshape(q.shape[0], a.size * nw * 8, 256)


@inline_helper
def asymmetric_select(t, code_addrs, code_block_rows, row_bytes, cand, m, k, scores, out_r, out_s):
    """The k best of the candidate rows cand[:m] (none -1) by (asymmetric score, row) into out_r / out_s[:k], in no
    order, padded (+inf, -1); returns n = min(k, m). A row's score is sum_p t[p * 256 + byte p of its code]
    (pq._sum1's arithmetic: every path that reranks adds in this order); code row r is row_bytes bytes at
    code_addrs[r // code_block_rows] + (r % code_block_rows) * row_bytes. The selection is _select_pairs' (a
    sampled bound and a partition; a heap of k took 5x longer for 8,000 candidates); ties go to the lowest rows.
    scores: float32 scratch of at least m."""
    for j in range(m):
        c = carray(u8_pointer(_row_address(code_addrs, code_block_rows, row_bytes, cand[j])), (row_bytes,))
        scores[j] = pq._sum1(t, c, row_bytes)
    _select_pairs(scores, cand, m, out_s[:k], out_r[:k])
    return min(k, m)


@kernel
def _asymmetric_rerank(T, code_addrs, code_block_rows, row_bytes, cand, counts, out_d, out_i):
    # cand[qi, :counts[qi]]: the query's candidate rows, ascending
    scores = np.empty(cand.shape[1], np.float32)
    k = out_d.shape[1]
    for qi in range(T.shape[0]):
        asymmetric_select(T[qi], code_addrs, code_block_rows, row_bytes, cand[qi], counts[qi], k, scores, out_i[qi],
                          out_d[qi])  # fmt: skip


def asymmetric_rerank(
    queries: np.ndarray, blocks: list[tuple[int, np.ndarray]], cand: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The k best of each query's candidate rows cand (nq, c) (-1: none) by the asymmetric score of float queries
    (nq, bits) against one-plane bit codes: (dist, rows) ascending, ties by row, padded (+inf, -1). blocks: the
    codes as (first_row, (n, W) uint64) pairs covering every candidate row; they are read in place when all but the
    last hold the same number of rows, else joined first."""
    q = np.asarray(queries)
    if q.ndim != 2:
        raise InvalidArgument(f"queries must be 2-D, got shape {q.shape}")
    k = check_k(k)
    width = words_for(q.shape[1])
    cand = np.asarray(cand)
    if cand.ndim != 2 or cand.shape[0] != q.shape[0] or not np.issubdtype(cand.dtype, np.integer):
        raise InvalidArgument(f"candidates must be integer rows (queries, c), got {cand.dtype} {cand.shape}")
    blocks = [(int(r0), _as_words(x, width, "binary code")) for r0, x in blocks]
    sizes = [x.shape[0] for _, x in blocks]
    if [r0 for r0, _ in blocks] != [sum(sizes[:i]) for i in range(len(blocks))]:
        raise InvalidArgument("code blocks must follow each other from row 0")
    even = all(n == sizes[0] for n in sizes[:-1]) and sizes[-1] <= sizes[0]  # row r in block r // sizes[0]
    if not blocks or not even or sizes[0] == 0:
        joined = np.concatenate([x for _, x in blocks]) if blocks else np.zeros((0, width), np.uint64)
        blocks = [(0, np.ascontiguousarray(joined))]
    n_rows = blocks[-1][0] + blocks[-1][1].shape[0]
    if cand.size and (cand.max() >= n_rows or cand.min() < -1):
        raise InvalidArgument(f"candidate rows must be -1 or below {n_rows}")
    none = np.iinfo(np.int64).max
    cand = np.sort(np.where(cand < 0, none, cand.astype(np.int64)), axis=1)  # row order (the tie rule), padding last
    counts = (cand != none).sum(1)
    addrs = np.array([x.ctypes.data for _, x in blocks], np.int64)
    tables = asymmetric_tables(q, q.shape[1], np.ones(1, np.float32))
    hd, hi = new_heaps(q.shape[0], k)
    if cand.size:
        _asymmetric_rerank(tables.reshape(q.shape[0], -1), addrs, max(blocks[0][1].shape[0], 1), width * 8, cand,
                           counts, hd, hi)  # fmt: skip
    order = np.lexsort((np.where(hi < 0, none, hi), hd), axis=-1)
    return np.take_along_axis(hd, order, 1), np.take_along_axis(hi, order, 1)


def _byte_view(codes: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(codes).astype("<u8", copy=False).view(np.uint8)


def asymmetric_scan_topk(
    queries: np.ndarray,
    blocks: list[tuple[int, np.ndarray]],
    allowed: np.ndarray,
    k: int,
    plane_weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by -sum_j a_j <q, 2 b_j - 1>: float queries (nq, bits) against P-plane codes (n, P * W) uint64."""
    q = np.asarray(queries)
    if q.ndim != 2:
        raise InvalidArgument(f"queries must be 2-D, got shape {q.shape}")
    a = np.ones(1, np.float32) if plane_weights is None else np.asarray(plane_weights, np.float32).reshape(-1)
    width = a.size * words_for(q.shape[1])
    tables = asymmetric_tables(q, q.shape[1], a)
    allowed = as_allowed(allowed)
    blocks = check_blocks(blocks, width, np.dtype(np.uint64), allowed, "binary code")
    return pq.scan_topk(tables, [(r0, _byte_view(x)) for r0, x in blocks], allowed, k, trusted=True)


def asymmetric_distances(
    queries: np.ndarray, codes: np.ndarray, rows: np.ndarray | None = None, plane_weights: np.ndarray | None = None
) -> np.ndarray:
    """-sum_j a_j <q, 2 b_j - 1> for the selected code rows: (nq, len(rows)) float32."""
    q = np.asarray(queries)
    if q.ndim != 2:
        raise InvalidArgument(f"queries must be 2-D, got shape {q.shape}")
    a = np.ones(1, np.float32) if plane_weights is None else np.asarray(plane_weights, np.float32).reshape(-1)
    codes = _as_words(codes, a.size * words_for(q.shape[1]), "codes")
    return pq.distances(asymmetric_tables(q, q.shape[1], a), _byte_view(codes), rows)
