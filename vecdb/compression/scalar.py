"""int8 scalar quantization, calibrated per dimension: 1 byte per dimension, 4x smaller than float32.

Per dimension t, the calibration range [lo_t, hi_t] (min / max of the training vectors, or quantiles to clip rare
outliers) is split into 256 levels: code = round((x - offset) / scale) in [-128, 127], reconstruction
offset + scale * code. Search is asymmetric: the float query meets the reconstruction (kernels/scalar.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from ..kernels import scalar as scalar_kernels
from .base import Codec, CompressionSpec, PreparedQueries, check_float, check_int, sample_rows


@dataclass(frozen=True)
class ScalarInt8(CompressionSpec):
    """quantile: clip each dimension's range to its [quantile, 1 - quantile] quantiles (0: min / max);
    train_size: calibration sample."""

    quantile: float = 0.0
    train_size: int = 100_000

    kind = "int8"

    def __post_init__(self) -> None:
        check_float("quantile", self.quantile, 0.0, 0.2)
        check_int("train_size", self.train_size, 1, 100_000_000)

    def make_codec(self) -> Int8Codec:
        return Int8Codec(self)


class Int8Codec(Codec):
    spec: ScalarInt8
    code_dtype = np.dtype(np.int8)

    def __init__(self, spec: ScalarInt8) -> None:
        super().__init__(spec)
        self.offset: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    def fit(self, x: np.ndarray, *, metric: str, seed: int = 0, progress: bool | None = None) -> None:
        x = self._start_fit(x, metric)
        sample = x[sample_rows(x.shape[0], self.spec.train_size, seed)]
        q = self.spec.quantile
        lo = np.quantile(sample, q, axis=0) if q else sample.min(0)
        hi = np.quantile(sample, 1 - q, axis=0) if q else sample.max(0)
        span = (hi - lo).astype(np.float64)
        scale = np.where(span > 0, span / 255.0, 1.0)  # a constant dimension keeps scale 1: its code is exact
        self.scale = scale.astype(np.float32)
        self.offset = (lo + 128.0 * scale).astype(np.float32)
        self.dim = x.shape[1]

    @property
    def code_width(self) -> int:
        self._need_fitted()
        return self.dim

    def encode(self, x: np.ndarray) -> np.ndarray:
        x = self._check_queries(x)
        return np.clip(np.rint((x - self.offset) / self.scale), -128, 127).astype(np.int8)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        codes = self.check_codes(codes)
        return (self.offset + self.scale * codes.astype(np.float32)).astype(np.float32)

    def prepare(self, queries: np.ndarray) -> PreparedQueries:
        q = self._check_queries(queries)
        if self.metric == "l2":
            return PreparedQueries(q.shape[0], {"q": np.ascontiguousarray(q - self.offset)})
        # -<q, offset + scale * c> = -<q * scale, c> - <q, offset>: the kernel does the first, we add the second.
        return PreparedQueries(q.shape[0], {"q": np.ascontiguousarray(q * self.scale), "const": -(q @ self.offset)})

    def _add_const(self, p: PreparedQueries, dist: np.ndarray) -> np.ndarray:
        if "const" in p.data:
            dist = dist + p.data["const"][:, None].astype(np.float32)
        return dist

    def scan_topk(self, queries, code_blocks, allowed, k):
        p = self._prepared(queries)
        dist, rows = scalar_kernels.scan_topk(p.data["q"], code_blocks, allowed, k, self.metric, self.scale)
        return self._add_const(p, dist), rows

    def distances(self, queries, codes, rows=None):
        p = self._prepared(queries)
        out = scalar_kernels.distances(p.data["q"], self.check_codes(codes), rows, self.metric, self.scale)
        return self._add_const(p, out)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"offset": self.offset, "scale": self.scale}

    def _load(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.offset = np.asarray(arrays["offset"], np.float32)
        self.scale = np.asarray(arrays["scale"], np.float32)
        if self.offset.shape != (self.dim,) or self.scale.shape != (self.dim,):
            raise InvalidArgument("int8 codec state has arrays of the wrong shape")
