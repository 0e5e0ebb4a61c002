"""The single-query path of a sign-binarized field: one kernel from the raw query to the rescored top k.

A field Dense(..., index=None, compression=SignBinary()) (one bit per dimension, centred or not, Hamming or
asymmetric scoring) is searched on its codes and rescored with its floats. Through the general path one query
pays for a dozen numpy and Python steps around two kernels (prepare, binarize, scan, heaps, gather, sort), about
as much as the kernels themselves; here binary.sign_search_one (or sign_asym_search_one) does all of it in one
call, against a per-field snapshot (HotCodes) read once per LMDB transaction id: the codes as one contiguous array
(the process keeps them: they are the small part), the float blocks' addresses (the floats stay in LMDB), the ids
and the live rows. Same plan, candidates, results and explain as the general path; anything else (filters that
match nothing, many dead rows, other codecs, bad values) goes the general way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..index.maintain import FieldState
from ..index.runtime import VectorCache
from ..kernels.binary import _byte_view, ivf_lists, list_order_bytes, word_count
from ..search import DEAD_FRACTION
from ..storage.keys import State
from .engine import CompressedField, Trained, codes_plan
from .sign import PREFILTER, SignBinary

MAX_PLANS = 256  # plans kept per snapshot (see plan_one)


def sign_fast_path(spec: object) -> bool:
    """Whether a field's compression is the one the fused kernel implements."""
    return isinstance(spec, SignBinary) and spec.projection == "none"


@dataclass(slots=True, frozen=True)
class HotCodes:
    """One committed snapshot of a sign-compressed field, as the fused kernel reads it. Valid while LMDB's
    transaction id is the one it was read at and the float blocks are where they were (see
    storage.blocks.SnapshotBlocks)."""

    txn_id: int
    map_generation: int  # Env.map_generation the addresses were read at
    state: State
    trained: Trained
    codes: np.ndarray  # in this process: (rows, words) uint64, or as (rows, 8 * words) bytes for asymmetric scoring
    # (with lists: those bytes in list order, see binary.list_order_bytes)
    code_addrs: np.ndarray  # [address of codes] (the rerank of "hamming+asymmetric" reads code rows by address)
    addrs: np.ndarray  # the float blocks' addresses in the map
    ids: np.ndarray  # row -> uint64 point id (STR_SENTINEL: a string id)
    allowed: np.ndarray  # live rows
    mean: np.ndarray
    scale: np.ndarray  # asymmetric scoring: the per-dimension scale of the projected query
    asymmetric: bool
    prefilter: int  # Hamming candidates per candidate ("hamming+asymmetric"), else 0
    cosine: bool
    l2: bool
    plans: dict  # plan_one's plans: (oversample, recall_target, k, allowed rows, filtered) -> (n_cand, explain)
    words: tuple  # binary.word_count of the codes' uint64 words (Hamming scoring)
    centroids: np.ndarray  # SignBinary(lists=...): the lists' centroids, else (0, dim)
    probe: int  # lists each query scores (0: no lists)
    order: np.ndarray  # with lists: the rows grouped by list (binary.ivf_lists), else empty
    starts: np.ndarray  # list l's rows are order[starts[l]:starts[l + 1]]


class CodeCache:
    """The code column of a field's current codec as one contiguous array (a VectorCache per codec token)."""

    def __init__(self) -> None:
        self._cur: tuple[str, VectorCache] | None = None  # one tuple: threads never see a token with another's cache

    def get(self, txn, blocks, t: Trained, st: State) -> np.ndarray:
        cur = self._cur
        if cur is None or cur[0] != t.token:
            cur = self._cur = (t.token, VectorCache(t.column))
        return cur[1].get(txn, blocks, st)[: st.next_row]


def hot_codes(
    txn,
    tables,
    fs: FieldState,
    codes: CompressedField,
    cache: CodeCache,
    st: State,
    allowed,
    ids,
    txn_id: int,
    gen: int,
) -> HotCodes | None:
    """The snapshot as HotCodes when the general path would search it on codes + rescoring with the sign codec;
    None otherwise (not trained yet, or dead rows past DEAD_FRACTION, which the general path explains)."""
    if st.next_row - st.live > DEAD_FRACTION * st.next_row or st.live == 0:
        return None
    t = codes.trained(txn, tables["aux"])
    if t is None or not sign_fast_path(t.codec.spec):
        return None
    c = t.codec
    asym = c.spec.scoring == "asymmetric"
    code_arr = code_words = cache.get(txn, tables["block"], t, st)
    words = word_count(code_arr.shape[1])
    if asym:
        code_arr = _byte_view(code_arr)
    addrs = fs.snap.addresses(txn, tables["block"], st.next_row)
    metric = fs.field.metric
    cosine, l2 = metric == "cosine", metric == "l2"
    prefilter = PREFILTER if c.spec.scoring == "hamming+asymmetric" else 0
    if c.spec.lists is not None:
        word, shift, mask = c.list_place
        order, starts = ivf_lists(code_words, word, np.uint64(shift), np.uint64(mask))  # O(rows), once a snapshot
        code_arr = list_order_bytes(code_words, order)  # the kernel reads the codes a list at a time
        centroids, probe = c.centroids, c.spec.probed
    else:
        centroids, probe = np.zeros((0, c.dim), np.float32), 0
        order, starts = np.zeros(0, np.int64), np.zeros(1, np.int64)
    code_addrs = np.array([code_arr.ctypes.data], np.int64)  # of the array kept below (the rerank reads by address)
    return HotCodes(txn_id, gen, st, t, code_arr, code_addrs, addrs, ids, allowed, c.mean, c.scale, asym, prefilter,
                    cosine, l2, {}, words, centroids, probe, order, starts)  # fmt: skip


def plan_one(hot: HotCodes, k: int, params, n_allowed: int, filtered: bool) -> tuple[int, int, dict[str, Any]]:
    """(Hamming candidates or 0, candidates to rescore, explain) exactly as CompressedField.search and dense_search
    give them. The plan of each (parameters, k, allowed rows) is kept with the snapshot; every call gets its own
    explain dict."""
    key = (
        (None, None, k, n_allowed, filtered)
        if params is None
        else (params.oversample, params.recall_target, k, n_allowed, filtered)
    )
    plan = hot.plans.get(key)
    if plan is None:
        n_cand, explain = codes_plan(hot.trained, k, n_allowed, True, key[0], key[1])
        n_pre = hot.prefilter * n_cand
        if filtered:
            explain["estimate"] = n_allowed
            explain["selectivity"] = round(n_allowed / max(hot.state.live, 1), 6)
        if len(hot.plans) >= MAX_PLANS:  # many filters of many sizes: start over rather than grow without end
            hot.plans.clear()
        plan = hot.plans[key] = (n_pre, n_cand, explain)
    return plan[0], plan[1], plan[2].copy()
