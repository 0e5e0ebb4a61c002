"""Compression codecs for token vectors: TokenCompression (frozen parameters) and TokenCodec (the trained encoder).

Codecs (TokenCompression.kind), bytes per token for d = 384:
- "none":     float32, 4d (1,536 B).
- "int8":     one int8 per dimension with a per-dimension scale (max |x_j| of the training sample / 127), d (384 B).
- "binary":   sign bits + the token's mean |x| as float32 scale, d/8 + 4 (52 B); queries stay float.
- "residual": nearest of C k-means centroids (uint16 id) + the residual quantised to nbits per dimension with
              cutoffs / values at global quantiles of the residuals (ColBERTv2), d*nbits/8 + 2 (98 B at 2 bits).
Every codec persists as (json-able dict, dict of numpy arrays); training is seeded and CPU-only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from ..kernels import maxsim
from ..kernels.maxsim import Codes

KINDS = ("none", "int8", "binary", "residual")


@dataclass(frozen=True)
class TokenCompression:
    """How token vectors are stored. kind: none | int8 | binary | residual. nbits (residual: 1, 2 or 4 bits per
    dimension), n_centroids (residual), train_tokens (tokens sampled to train int8 / residual), seed."""

    kind: str = "none"
    nbits: int = 2
    n_centroids: int = 1024
    train_tokens: int = 100_000
    kmeans_iters: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidArgument(f"unknown token compression {self.kind!r}: choose one of {', '.join(KINDS)}")
        if self.nbits not in (1, 2, 4):
            raise InvalidArgument(f"residual nbits must be 1, 2 or 4, got {self.nbits!r}")
        for name in ("n_centroids", "train_tokens", "kmeans_iters"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidArgument(f"{name} must be a positive integer, got {v!r}")
        if self.n_centroids > 65_536:
            raise InvalidArgument(f"n_centroids must be <= 65536 (ids are stored as uint16), got {self.n_centroids}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InvalidArgument(f"seed must be a non-negative integer, got {self.seed!r}")

    @property
    def needs_training(self) -> bool:
        return self.kind in ("int8", "residual")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TokenCompression:
        try:
            return cls(**d)
        except TypeError as e:
            raise InvalidArgument(f"bad token compression {d!r}: {e}") from None


def _sign_lut() -> np.ndarray:
    b = np.arange(256, dtype=np.uint8)[:, None]
    bits = (b >> (7 - np.arange(8, dtype=np.uint8))) & 1  # np.packbits order: first dimension in the top bit
    return np.where(bits == 1, 1.0, -1.0).astype(np.float32)


def _residual_lut(weights: np.ndarray, nbits: int) -> np.ndarray:
    per = 8 // nbits
    b = np.arange(256)[:, None]
    shifts = 8 - nbits * (np.arange(per) + 1)
    return weights[(b >> shifts) & ((1 << nbits) - 1)].astype(np.float32)


def _pack(codes: np.ndarray, nbits: int) -> np.ndarray:
    """(T, d) small integers < 2**nbits -> (T, ceil(d * nbits / 8)) uint8, first value in the top bits."""
    per = 8 // nbits
    t, d = codes.shape
    width = -(-d // per) * per
    padded = np.zeros((t, width), np.uint8)
    padded[:, :d] = codes
    grouped = padded.reshape(t, width // per, per)
    shifts = (8 - nbits * (np.arange(per) + 1)).astype(np.uint8)
    return np.bitwise_or.reduce(grouped << shifts, axis=2).astype(np.uint8)


class TokenCodec:
    """A (trained) encoder of token vectors for one TokenCompression; build with TokenCodec.fit or from_state."""

    def __init__(self, compression: TokenCompression, dim: int, arrays: dict[str, np.ndarray] | None = None):
        self.compression = compression
        self.dim = dim
        self.arrays = arrays or {}
        kind = compression.kind
        if kind == "none":
            self.codes = Codes("float32", dim)
        elif kind == "int8":
            self.codes = Codes("int8", dim, scale=self._need("scale"))
        elif kind == "binary":
            self.codes = Codes("binary", dim, lut=_sign_lut())
        else:
            self.codes = Codes(
                "residual", dim, lut=_residual_lut(self._need("weights"), compression.nbits),
                centroids=self._need("centroids"),
            )  # fmt: skip
        self.codes = maxsim.check_codes(self.codes)
        self._assigner = None

    def _need(self, name: str) -> np.ndarray:
        if name not in self.arrays:
            raise InvalidArgument(f"{self.compression.kind} token codec state lacks the array {name!r}")
        return self.arrays[name]

    @classmethod
    def fit(cls, compression: TokenCompression, dim: int, sample: np.ndarray) -> TokenCodec:
        """Train on sample tokens (T, dim) float32, already normalised as they will be stored."""
        c = compression
        if not c.needs_training:
            return cls(c, dim)
        sample = np.ascontiguousarray(sample, dtype=np.float32)
        if sample.ndim != 2 or sample.shape[1] != dim or sample.shape[0] == 0:
            raise InvalidArgument(f"training tokens must have shape (T >= 1, {dim}), got {sample.shape}")
        rng = np.random.default_rng(c.seed)
        if sample.shape[0] > c.train_tokens:
            sample = sample[np.sort(rng.choice(sample.shape[0], c.train_tokens, replace=False))]
        if c.kind == "int8":
            scale = np.abs(sample).max(axis=0) / 127.0
            return cls(c, dim, {"scale": np.where(scale > 0, scale, 1.0).astype(np.float32)})
        if sample.shape[0] < c.n_centroids:
            raise InvalidArgument(f"residual codec needs at least n_centroids={c.n_centroids} training tokens")
        from .kmeans import kmeans

        centroids = kmeans(sample, c.n_centroids, c.kmeans_iters, c.seed)
        ids = _nearest(centroids, sample)
        resid = (sample - centroids[ids]).ravel()
        levels = 1 << c.nbits
        cutoffs = np.quantile(resid, np.arange(1, levels) / levels).astype(np.float32)
        weights = np.quantile(resid, (np.arange(levels) + 0.5) / levels).astype(np.float32)
        return cls(c, dim, {"centroids": centroids, "cutoffs": cutoffs, "weights": weights})

    def encode(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(T, dim) float32 -> (data, aux) in the layout of kernels.maxsim.Block."""
        kind = self.compression.kind
        if kind == "none":
            return np.ascontiguousarray(tokens, dtype=np.float32), None
        if kind == "int8":
            q = np.rint(tokens / self.codes.scale)
            return np.clip(q, -127, 127).astype(np.int8), None
        if kind == "binary":
            alpha = np.abs(tokens).mean(axis=1).astype(np.float32)
            return np.packbits(tokens > 0, axis=1), alpha
        if self._assigner is None:
            self._assigner = self.codes.centroids
        ids = _nearest(self._assigner, tokens)
        resid = tokens - self.codes.centroids[ids]
        buckets = np.searchsorted(self.arrays["cutoffs"], resid).astype(np.uint8)
        return _pack(buckets, self.compression.nbits), ids.astype(np.uint16)

    def decode(self, data: np.ndarray, aux: np.ndarray | None) -> np.ndarray:
        """Codes -> approximate float32 tokens (T, dim): what the kernels score against."""
        kind = self.compression.kind
        d = self.dim
        if kind == "none":
            return np.asarray(data, np.float32)
        if kind == "int8":
            return data.astype(np.float32) * self.codes.scale
        lut = self.codes.lut
        flat = lut[data].reshape(data.shape[0], -1)[:, :d]
        if kind == "binary":
            return (flat * aux[:, None]).astype(np.float32)
        return (flat + self.codes.centroids[aux]).astype(np.float32)

    @property
    def bytes_per_token(self) -> int:
        d, kind = self.dim, self.compression.kind
        return {
            "none": 4 * d,
            "int8": d,
            "binary": -(-d // 8) + 4,
            "residual": -(-d * self.compression.nbits // 8) + 2,
        }[kind]

    @property
    def shared_bytes(self) -> int:
        """Bytes of the arrays every document shares (scales, centroids, bucket tables)."""
        return int(sum(a.nbytes for a in self.arrays.values()))

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"compression": self.compression.to_dict(), "dim": self.dim}, dict(self.arrays)

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> TokenCodec:
        return cls(TokenCompression.from_dict(meta["compression"]), int(meta["dim"]), dict(arrays))


def _nearest(centroids: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (L2) for each row, exact (faiss flat index)."""
    import faiss

    index = faiss.IndexFlatL2(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    out = np.empty(x.shape[0], np.int64)
    for s in range(0, x.shape[0], 65_536):
        _, ids = index.search(np.ascontiguousarray(x[s : s + 65_536], dtype=np.float32), 1)
        out[s : s + 65_536] = ids[:, 0]
    return out
