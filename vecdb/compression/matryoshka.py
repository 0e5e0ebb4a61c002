"""Matryoshka truncation: keep the first `dims` dimensions (float32), for models trained so that prefixes work.

On a model not trained that way (e.g. all-MiniLM-L6-v2) a prefix is a poor summary; compression_report shows by
how much. For cosine fields the prefix is re-normalised, as Matryoshka models are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from ..kernels import dense
from .base import Codec, CompressionSpec, PreparedQueries, check_int

MAX_DIMS = 65_536


@dataclass(frozen=True)
class Matryoshka(CompressionSpec):
    """dims: how many leading dimensions to keep."""

    dims: int = 64

    kind = "matryoshka"

    def __post_init__(self) -> None:
        check_int("dims", self.dims, 1, MAX_DIMS)

    def make_codec(self) -> MatryoshkaCodec:
        return MatryoshkaCodec(self)


class MatryoshkaCodec(Codec):
    spec: Matryoshka
    code_dtype = np.dtype(np.float32)

    def fit(self, x: np.ndarray, *, metric: str, seed: int = 0, progress: bool | None = None) -> None:
        x = self._start_fit(x, metric)
        if self.spec.dims > x.shape[1]:
            raise InvalidArgument(f"cannot keep {self.spec.dims} leading dimensions of {x.shape[1]}-d vectors")
        self.dim = x.shape[1]

    @property
    def code_width(self) -> int:
        return self.spec.dims

    def _prefix(self, x: np.ndarray) -> np.ndarray:
        p = np.ascontiguousarray(x[:, : self.spec.dims], dtype=np.float32)
        if self.metric == "cosine":
            norms = np.linalg.norm(p, axis=1, keepdims=True)
            p = np.ascontiguousarray(p / np.where(norms > 0, norms, 1.0), dtype=np.float32)
        return p

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self._prefix(self._check_queries(x))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """The prefix padded with zeros (the dropped dimensions are unknown)."""
        codes = self.check_codes(codes)
        out = np.zeros((codes.shape[0], self.dim), np.float32)
        out[:, : self.spec.dims] = codes
        return out

    def prepare(self, queries: np.ndarray) -> PreparedQueries:
        q = self.encode(queries)
        return PreparedQueries(q.shape[0], {"q": q})

    def scan_topk(self, queries, code_blocks, allowed, k):
        return dense.scan_topk(self._prepared(queries).data["q"], code_blocks, allowed, k, self.metric)

    def distances(self, queries, codes, rows=None):
        q = self._prepared(queries).data["q"]
        codes = self.check_codes(codes)
        rows = np.arange(codes.shape[0]) if rows is None else rows
        return dense.distances(q, codes, rows, self.metric)

    def _load(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        if self.spec.dims > self.dim:
            raise InvalidArgument("Matryoshka state keeps more dimensions than the vectors have")
