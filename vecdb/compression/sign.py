"""Sign binarization: 1 bit per (optionally rotated / expanded) dimension, scored by Hamming or asymmetrically.

z = P (x - mean); bit t = z_t > 0. P is the identity (projection="none": one bit per input dimension), or a random
rotation, stacked when more bits than dimensions are asked for (projection="random": SimHash-style, the honest way
to spend more bits on sign codes). Centering subtracts the per-dimension mean of the training vectors.

scoring="hamming": queries are binarized the same way; distance = differing bits (popcount on uint64 words).
scoring="asymmetric": the float query is kept; distance = -<P (q - mean) * s, 2 b - 1>, s the mean |z_t| per output
dimension. It ranks by the inner product with the reconstruction mean + P^T (s * (2 b - 1)), and for l2 by the
distance to it as well (the reconstruction's norm is constant when P is a rotation).
lists (scoring="asymmetric" only): an inverted-file front end. Training also clusters the vectors into `lists`
centroids (seeded k-means); each code row carries its nearest centroid's number in bits the signs leave free (the
top of the last word, or one more word), and a query scores only the rows of its `probe` nearest lists. On GloVe's
50-d vectors one bit per dimension ranks coarsely: far rows whose signs happen to agree crowd the candidates, and
the nearest lists leave them out, so fewer candidates reach the same recall after rescoring, from fewer rows scored.
scoring="hamming+asymmetric": Hamming distance over every code picks PREFILTER times the candidates asked for; the
asymmetric distance ranks those, and its best are the candidates (the same codes; the asymmetric table is built
once per query and read for those rows only). On GloVe's 50-d vectors, where one bit per dimension ranks coarsely,
Hamming needs 5,000 candidates for recall 0.95 after rescoring and asymmetric scoring 1,000; this keeps the 1,000
rescored rows at a fraction of the cost of scoring every row asymmetrically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from ..kernels import binary
from .base import (
    Codec,
    CompressionSpec,
    PreparedQueries,
    check_bool,
    check_choice,
    check_int,
    random_orthogonal,
)

MAX_BITS = 1 << 19
MAX_LISTS = 4096  # at most KMEANS_SAMPLE / 12 rows a list to fit the centroids on
KMEANS_ITERS = 20
KMEANS_SAMPLE = 50_000  # training vectors the centroids are fitted on at most
PREFILTER = 8  # scoring "hamming+asymmetric": Hamming candidates per asymmetric candidate
SCORINGS = ("hamming", "asymmetric", "hamming+asymmetric")


@dataclass(frozen=True)
class SignBinary(CompressionSpec):
    """bits: code bits per vector (None: one per dimension); center: subtract the mean first; projection: "none"
    or "random" (rotation, stacked for bits > dim); scoring: "hamming", "asymmetric" (float query) or
    "hamming+asymmetric" (Hamming first, then the asymmetric score of PREFILTER times the candidates asked for);
    lists / probe (asymmetric scoring): cluster the vectors into `lists` lists and score only the rows of each
    query's `probe` nearest ones (default lists // 8)."""

    bits: int | None = None
    center: bool = False
    projection: str = "none"
    scoring: str = "hamming"
    lists: int | None = None
    probe: int | None = None

    kind = "sign"

    def __post_init__(self) -> None:
        if self.bits is not None:
            check_int("bits", self.bits, 1, MAX_BITS)
        check_bool("center", self.center)
        check_choice("projection", self.projection, ("none", "random"))
        check_choice("scoring", self.scoring, SCORINGS)
        if self.lists is None:
            if self.probe is not None:
                raise InvalidArgument("probe applies with lists (the inverted-file front end)")
            return
        check_int("lists", self.lists, 2, MAX_LISTS)
        if self.scoring != "asymmetric":
            raise InvalidArgument(
                f"lists (the inverted-file front end) needs scoring='asymmetric', got {self.scoring!r}"
            )
        if self.probe is not None:
            check_int("probe", self.probe, 1, self.lists)

    @property
    def probed(self) -> int:
        """Lists a query scores (probe, default an eighth of the lists); 0 without lists."""
        if self.lists is None:
            return 0
        return self.probe if self.probe is not None else max(1, self.lists // 8)

    def make_codec(self) -> SignCodec:
        return SignCodec(self)


class SignCodec(Codec):
    spec: SignBinary
    code_dtype = np.dtype(np.uint64)

    def __init__(self, spec: SignBinary) -> None:
        super().__init__(spec)
        self.bits = 0
        self.mean: np.ndarray | None = None
        self.projection: np.ndarray | None = None  # (bits, dim) or None for the identity
        self.scale: np.ndarray | None = None  # (bits,) mean |z|
        self.centroids: np.ndarray | None = None  # (lists, dim) with spec.lists, else None

    def fit(self, x: np.ndarray, *, metric: str, seed: int = 0, progress: bool | None = None) -> None:
        x = self._start_fit(x, metric, min_rows=self.spec.lists or 1)
        d = x.shape[1]
        bits = self.spec.bits or d
        if self.spec.projection == "none" and bits != d:
            raise InvalidArgument(
                f"sign binarization without projection gives one bit per dimension ({d}); use projection='random' "
                f"for {bits} bits"
            )
        self.mean = x.mean(0).astype(np.float32) if self.spec.center else np.zeros(d, np.float32)
        rng = np.random.default_rng(seed)
        self.projection = random_orthogonal(bits, d, rng) if self.spec.projection == "random" else None
        self.bits = bits
        self.dim = d
        self.scale = np.abs(self._project(x)).mean(0).astype(np.float32)
        self.centroids = None if self.spec.lists is None else kmeans(x, self.spec.lists, self.metric, seed)

    # -- the inverted-file lists: where a row's list number sits in its code
    @property
    def list_bits(self) -> int:
        return 0 if self.spec.lists is None else max(1, int(self.spec.lists - 1).bit_length())

    @property
    def list_place(self) -> tuple[int, int, int]:
        """(word, shift, mask) of a row's list number: (code[word] >> shift) & mask. In the top bits of the last
        sign word when the signs leave list_bits free there, else alone in one more word."""
        lb = self.list_bits
        nw = binary.words_for(self.bits)
        free = nw * binary.WORD_BITS - self.bits
        if free >= lb:
            return nw - 1, binary.WORD_BITS - lb, (1 << lb) - 1
        return nw, 0, (1 << lb) - 1

    def assign(self, x: np.ndarray) -> np.ndarray:
        """Each vector's list: the nearest centroid (l2), or the largest inner product (dot, cosine)."""
        out = np.empty(x.shape[0], np.int64)
        _nearest(x.astype(np.float64), self.centroids.astype(np.float64), self.metric != "l2", out)
        return out

    def lists_of(self, codes: np.ndarray) -> np.ndarray:
        """The list number each code row carries."""
        codes = self.check_codes(codes)
        word, shift, mask = self.list_place
        return ((codes[:, word] >> np.uint64(shift)) & np.uint64(mask)).astype(np.int64)

    def probe_lists(self, queries: np.ndarray) -> np.ndarray:
        """(nq, spec.probed) int64: each query's nearest lists, ascending (binary.ivf_probe)."""
        q = self._check_queries(queries)
        out = np.zeros((q.shape[0], self.spec.probed), np.int64)
        if q.shape[0]:
            binary.ivf_probe(q, self.centroids, self.metric == "l2", self.spec.probed, out)
        return out

    @property
    def code_width(self) -> int:
        self._need_fitted()
        if self.spec.lists is None:
            return binary.words_for(self.bits)
        return self.list_place[0] + 1  # the last sign word, or the list number's own word after it

    def _project(self, x: np.ndarray) -> np.ndarray:
        z = x - self.mean
        if self.projection is not None:
            z = z @ self.projection.T
        return np.ascontiguousarray(z, dtype=np.float32)

    def encode(self, x: np.ndarray) -> np.ndarray:
        x = self._check_queries(x)
        codes = binary.pack_signs(self._project(x))
        if self.spec.lists is None:
            return codes
        word, shift, _ = self.list_place
        if codes.shape[1] < self.code_width:
            codes = np.concatenate([codes, np.zeros((codes.shape[0], self.code_width - codes.shape[1]), np.uint64)], 1)
        codes[:, word] |= self.assign(x).astype(np.uint64) << np.uint64(shift)
        return codes

    def decode(self, codes: np.ndarray) -> np.ndarray:
        codes = self.check_codes(codes)
        signs = 2.0 * binary.unpack_bits(codes, self.bits).astype(np.float32) - 1.0
        z = signs * self.scale
        if self.projection is not None:
            z = z @ np.linalg.pinv(self.projection).T
        return (z + self.mean).astype(np.float32)

    @property
    def nested_candidates(self) -> bool:
        # with a Hamming prefilter, the k best are not the first k of a longer list (the prefilter widens with it)
        return self.spec.scoring != "hamming+asymmetric"

    def prepare(self, queries: np.ndarray) -> PreparedQueries:
        q = self._check_queries(queries)
        z = self._project(q)
        data = {}
        if self.spec.scoring != "asymmetric":
            data["codes"] = binary.pack_signs(z)
        if self.spec.scoring != "hamming":
            data["float"] = z * self.scale
        if self.spec.lists is not None:
            data["lists"] = self.probe_lists(q)
        return PreparedQueries(q.shape[0], data)

    def scan_topk(self, queries, code_blocks, allowed, k):
        p = self._prepared(queries)
        if self.spec.lists is not None:
            word, shift, mask = self.list_place
            return binary.ivf_asymmetric_scan_topk(
                p.data["float"], code_blocks, allowed, k, p.data["lists"], word, shift, mask
            )
        if self.spec.scoring == "hamming":
            return binary.scan_topk(p.data["codes"], code_blocks, allowed, k)
        if self.spec.scoring == "asymmetric":
            return binary.asymmetric_scan_topk(p.data["float"], code_blocks, allowed, k)
        _, pre = binary.scan_topk(p.data["codes"], code_blocks, allowed, PREFILTER * k)
        return binary.asymmetric_rerank(p.data["float"], code_blocks, pre, k)

    def distances(self, queries, codes, rows=None):
        p = self._prepared(queries)
        codes = self.check_codes(codes)
        if self.spec.scoring == "hamming":
            return binary.distances(p.data["codes"], codes, rows)
        # the sign words (a list number in a word of its own is no part of the score)
        return binary.asymmetric_distances(p.data["float"], codes[:, : binary.words_for(self.bits)], rows)

    def _meta(self) -> dict[str, Any]:
        return {"bits": self.bits}

    def _arrays(self) -> dict[str, np.ndarray]:
        out = {"mean": self.mean, "scale": self.scale}
        if self.projection is not None:
            out["projection"] = self.projection
        if self.centroids is not None:
            out["centroids"] = self.centroids
        return out

    def _load(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.bits = int(meta["bits"])
        self.mean = np.asarray(arrays["mean"], np.float32)
        self.scale = np.asarray(arrays["scale"], np.float32)
        self.projection = np.asarray(arrays["projection"], np.float32) if "projection" in arrays else None
        if self.mean.shape != (self.dim,) or self.scale.shape != (self.bits,):
            raise InvalidArgument("sign codec state has arrays of the wrong shape")
        if self.projection is not None and self.projection.shape != (self.bits, self.dim):
            raise InvalidArgument("sign codec state has a projection of the wrong shape")
        self.centroids = np.asarray(arrays["centroids"], np.float32) if "centroids" in arrays else None
        want = None if self.spec.lists is None else (self.spec.lists, self.dim)
        if (None if self.centroids is None else self.centroids.shape) != want:
            raise InvalidArgument("sign codec state has centroids that do not match its lists")
        if self.centroids is not None and not np.isfinite(self.centroids).all():
            raise InvalidArgument("sign codec state has centroids that are not finite")


def kmeans(x: np.ndarray, k: int, metric: str, seed: int) -> np.ndarray:
    """k centroids of x by Lloyd's algorithm (KMEANS_ITERS rounds on at most KMEANS_SAMPLE seeded rows, seeded
    initial centroids; a centroid left empty restarts at a random row): plain numpy, so deterministic under seed.
    Unit-length centroids for cosine and dot (spherical k-means: assignment by inner product, as SignCodec.assign
    and the probe do; l2 centroids for dot left lists lopsided: a quarter of the rows in one of 64); l2 by l2."""
    rng = np.random.default_rng(seed)
    if x.shape[0] > KMEANS_SAMPLE:
        x = x[np.sort(rng.choice(x.shape[0], KMEANS_SAMPLE, replace=False))]
    x = np.ascontiguousarray(x, dtype=np.float32)
    spherical = metric != "l2"  # dot too: rows and queries go to lists by inner product, as assign() does
    c = x[rng.choice(x.shape[0], k, replace=False)].astype(np.float64)
    a = np.empty(x.shape[0], np.int64)
    for _ in range(KMEANS_ITERS):
        _nearest(x, c.astype(np.float32), spherical, a)
        counts = np.bincount(a, minlength=k)
        sums = np.stack([np.bincount(a, weights=x[:, j], minlength=k) for j in range(x.shape[1])], axis=1)
        empty = counts == 0
        c[~empty] = sums[~empty] / counts[~empty, None]
        if empty.any():
            c[empty] = x[rng.choice(x.shape[0], int(empty.sum()), replace=False)]
        if spherical:
            c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(c, dtype=np.float32)


def _nearest(x: np.ndarray, c: np.ndarray, by_ip: bool, out: np.ndarray) -> None:
    """out[i] = the row of c with the largest inner product with x[i] (by_ip), else the nearest by l2, computed in
    x's and c's dtype, (rows, len(c)) scores a chunk of 8,192 rows at a time."""
    c2 = (c * c).sum(1)
    for s in range(0, x.shape[0], 8192):
        ip = x[s : s + 8192] @ c.T
        out[s : s + 8192] = np.argmax(ip, axis=1) if by_ip else np.argmin(c2[None] - 2 * ip, axis=1)
