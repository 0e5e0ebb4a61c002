"""Product quantization (PQ) and optimized PQ (OPQ): m bytes per vector, scored by ADC lookup tables in Numba.

Training uses faiss k-means (faiss.ProductQuantizer, seeded). OPQ learns an orthogonal rotation R first, by the
non-parametric alternation of Ge et al. (2013), as faiss.OPQMatrix does: train PQ on X R^T, reconstruct, solve the
orthogonal Procrustes problem for R, repeat. We run the loop here (with faiss k-means inside) so that it is seeded,
shows progress, and stores R as a plain array. For cosine / dot fields the codebooks reconstruct the vectors in L2
and search ranks by the inner product with the reconstruction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from ..kernels import pq as pq_kernels
from .base import Codec, CompressionSpec, PreparedQueries, check_bool, check_int, sample_rows
from .progress import progress_bar


@dataclass(frozen=True)
class ProductQuantization(CompressionSpec):
    """m: sub-quantizers (= bytes per vector), dim must be divisible by m; nbits: bits per sub-code (<= 8, one
    byte each); opq: learn a rotation first; train_size: training sample; iterations: k-means iterations;
    opq_iterations: rotation updates."""

    m: int = 8
    nbits: int = 8
    opq: bool = False
    train_size: int = 65_536
    iterations: int = 25
    opq_iterations: int = 20

    kind = "pq"

    def __post_init__(self) -> None:
        check_int("m", self.m, 1, 65_536)
        check_int("nbits", self.nbits, 1, 8)
        check_bool("opq", self.opq)
        check_int("train_size", self.train_size, 1, 10_000_000)
        check_int("iterations", self.iterations, 1, 1000)
        check_int("opq_iterations", self.opq_iterations, 1, 1000)

    def make_codec(self) -> PQCodec:
        return PQCodec(self)


def _train_pq(y: np.ndarray, m: int, nbits: int, iterations: int, seed: int):
    import faiss

    pq = faiss.ProductQuantizer(y.shape[1], m, nbits)
    pq.cp.niter = iterations
    pq.cp.seed = int(seed) % (2**31)
    pq.cp.min_points_per_centroid = 1  # small collections are fine, just less accurate (and silent)
    pq.cp.max_points_per_centroid = 1 << 30  # use the whole training sample we chose
    pq.verbose = False
    pq.train(np.ascontiguousarray(y, dtype=np.float32))
    centroids = faiss.vector_to_array(pq.centroids).reshape(m, 1 << nbits, y.shape[1] // m)
    return pq, centroids.astype(np.float32)


class PQCodec(Codec):
    spec: ProductQuantization
    code_dtype = np.dtype(np.uint8)

    def __init__(self, spec: ProductQuantization) -> None:
        super().__init__(spec)
        self.codebooks: np.ndarray | None = None  # (m, 2^nbits, dim / m)
        self.rotation: np.ndarray | None = None  # (dim, dim) orthogonal, applied as x @ R.T
        self._pq = None

    def fit(self, x: np.ndarray, *, metric: str, seed: int = 0, progress: bool | None = None) -> None:
        s = self.spec
        x = self._start_fit(x, metric, min_rows=2)
        d = x.shape[1]
        if d % s.m:
            raise InvalidArgument(f"PQ needs the dimension ({d}) to be divisible by m ({s.m})")
        sample = x[sample_rows(x.shape[0], s.train_size, seed)].astype(np.float32)
        rotation = None
        steps = (s.opq_iterations if s.opq else 0) + 1
        with progress_bar(steps, f"{'OPQ' if s.opq else 'PQ'} training", progress) as bar:
            if s.opq:
                rotation = np.eye(d, dtype=np.float32)
                inner = max(4, s.iterations // 5)  # as faiss.OPQMatrix: short k-means inside the alternation
                for it in range(s.opq_iterations):
                    y = sample @ rotation.T
                    pq, _ = _train_pq(y, s.m, s.nbits, inner, seed + it)
                    recon = pq.decode(pq.compute_codes(np.ascontiguousarray(y)))
                    # argmin over orthogonal R of ||X R^T - recon||: R^T = U V^T with U S V^T = svd(X^T recon)
                    u, _, vt = np.linalg.svd(sample.astype(np.float64).T @ recon.astype(np.float64))
                    rotation = (u @ vt).T.astype(np.float32)
                    bar.update(1)
                sample = sample @ rotation.T
            pq, codebooks = _train_pq(sample, s.m, s.nbits, s.iterations, seed)
            bar.update(1)
        self.rotation = rotation
        self.codebooks = codebooks
        self._pq = None
        self.dim = d

    @property
    def code_width(self) -> int:
        return self.spec.m

    def _rotate(self, x: np.ndarray) -> np.ndarray:
        return x if self.rotation is None else np.ascontiguousarray(x @ self.rotation.T, dtype=np.float32)

    def encode(self, x: np.ndarray) -> np.ndarray:
        x = self._rotate(self._check_queries(x))
        if self.spec.nbits == 8:
            return self._faiss_pq().compute_codes(x).reshape(x.shape[0], self.spec.m)
        # faiss packs sub-codes of fewer than 8 bits; we keep one byte each, so find nearest centroids here.
        m, _, dsub = self.codebooks.shape
        codes = np.empty((x.shape[0], m), np.uint8)
        norms = (self.codebooks**2).sum(-1)
        for j in range(m):
            part = x[:, j * dsub : (j + 1) * dsub]
            codes[:, j] = np.argmin(norms[j][None, :] - 2 * (part @ self.codebooks[j].T), axis=1)
        return codes

    def _faiss_pq(self):
        # A faiss quantizer holding our codebooks: its nearest-centroid search is the fast encoder.
        if self._pq is None:
            import faiss

            pq = faiss.ProductQuantizer(self.dim, self.spec.m, self.spec.nbits)
            faiss.copy_array_to_vector(self.codebooks.ravel(), pq.centroids)
            self._pq = pq
        return self._pq

    def decode(self, codes: np.ndarray) -> np.ndarray:
        codes = self.check_codes(codes)
        m = self.codebooks.shape[0]
        y = np.concatenate([self.codebooks[j][codes[:, j]] for j in range(m)], axis=1)
        return y if self.rotation is None else (y @ self.rotation).astype(np.float32)

    def prepare(self, queries: np.ndarray) -> PreparedQueries:
        q = self._rotate(self._check_queries(queries))
        return PreparedQueries(q.shape[0], {"tables": pq_kernels.adc_tables(q, self.codebooks, self.metric)})

    def scan_topk(self, queries, code_blocks, allowed, k):
        # tables from checked queries and codebooks checked finite when fitted or loaded
        return pq_kernels.scan_topk(self._prepared(queries).data["tables"], code_blocks, allowed, k, trusted=True)

    def distances(self, queries, codes, rows=None):
        return pq_kernels.distances(self._prepared(queries).data["tables"], self.check_codes(codes), rows)

    def _arrays(self) -> dict[str, np.ndarray]:
        out = {"codebooks": self.codebooks}
        if self.rotation is not None:
            out["rotation"] = self.rotation
        return out

    def _load(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        s = self.spec
        self.codebooks = np.ascontiguousarray(arrays["codebooks"], dtype=np.float32)
        if self.codebooks.shape != (s.m, 1 << s.nbits, self.dim // s.m) or self.dim % s.m:
            raise InvalidArgument(f"PQ state has codebooks of shape {self.codebooks.shape} for dim {self.dim}")
        if not np.isfinite(self.codebooks).all():
            raise InvalidArgument("PQ state has codebooks with NaN or infinity")
        self.rotation = np.ascontiguousarray(arrays["rotation"], np.float32) if "rotation" in arrays else None
        if s.opq and (self.rotation is None or self.rotation.shape != (self.dim, self.dim)):
            raise InvalidArgument("OPQ state needs a (dim, dim) rotation")
        if self.rotation is not None and not np.isfinite(self.rotation).all():
            raise InvalidArgument("OPQ state has a rotation with NaN or infinity")
