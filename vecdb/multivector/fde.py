"""MUVERA fixed dimensional encodings (FDE): one dense vector per token set whose dot products approximate MaxSim.

Per repetition r (of `reps`): k_sim Gaussian hyperplanes (SimHash) split token space into B = 2**k_sim partitions;
each token is projected to d_proj dimensions; a query's block for partition b is the SUM of its projected tokens
in b, a document's block is their MEAN, and with `fill_empty` a document's empty partition takes the projected
token whose SimHash bits are nearest (Hamming) to the partition's bits (first such token on ties). Repetitions
are concatenated (reps * B * d_proj values) and optionally count-sketched to `final_dim`.

Projections (`projection`):
- "dense":       i.i.d. +-1 entries scaled by 1/sqrt(d_proj), as in the MUVERA paper (default);
- "countsketch": each input dimension added with a random sign to one random output, as the Google C++
                 reference's AMS sketch (unscaled);
- "identity":    no inner projection (d_proj must be None; blocks are `dim` wide).
The final projection is a count sketch (as the reference). Every random matrix is drawn from numpy's PCG64
seeded by (seed, purpose), so the same params and token dim always give the same FDEs: store `to_dict()` with the
collection and nothing else is needed to reproduce them.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from ..jit import kernel
from .tokens import as_token_sets, check_flat

PROJECTIONS = ("dense", "countsketch", "identity")
MAX_K_SIM = 12
_CHUNK_VALUES = 1 << 24  # projected values held at a time: bounds the (T, reps, d_proj) temporaries
# Up to this many tokens (a query), projections run in a Numba loop instead of BLAS: a multithreaded BLAS call
# on a tiny matrix costs milliseconds when its threads must wake up on a busy machine, and its spinning threads
# then slow the search kernels that follow.
_SMALL_TOKENS = 512


@dataclass(frozen=True)
class FDEParams:
    k_sim: int = 5
    reps: int = 20
    d_proj: int | None = 16
    final_dim: int | None = None
    fill_empty: bool = True
    projection: str = "dense"
    seed: int = 0

    def __post_init__(self) -> None:
        def positive(name: str, v: object, *, zero_ok: bool = False) -> None:
            low = 0 if zero_ok else 1
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise InvalidArgument(f"FDE {name} must be an integer >= {low}, got {v!r}")

        positive("k_sim", self.k_sim, zero_ok=True)
        if self.k_sim > MAX_K_SIM:
            raise InvalidArgument(f"FDE k_sim must be <= {MAX_K_SIM} (2**k_sim partitions), got {self.k_sim}")
        positive("reps", self.reps)
        positive("seed", self.seed, zero_ok=True)
        if self.projection not in PROJECTIONS:
            raise InvalidArgument(f"unknown FDE projection {self.projection!r}: choose one of {', '.join(PROJECTIONS)}")
        if self.projection == "identity":
            if self.d_proj is not None:
                raise InvalidArgument("FDE projection 'identity' keeps the token dimension: leave d_proj=None")
        else:
            positive("d_proj", self.d_proj)
        if self.final_dim is not None:
            positive("final_dim", self.final_dim)
        if not isinstance(self.fill_empty, bool):
            raise InvalidArgument(f"FDE fill_empty must be a bool, got {self.fill_empty!r}")

    @property
    def n_partitions(self) -> int:
        return 1 << self.k_sim

    def block_dim(self, dim: int) -> int:
        return dim if self.projection == "identity" else int(self.d_proj)

    def raw_dim(self, dim: int) -> int:
        """Length before the final projection: reps * 2**k_sim * d_proj."""
        return self.reps * self.n_partitions * self.block_dim(dim)

    def fde_dim(self, dim: int) -> int:
        return self.final_dim if self.final_dim is not None else self.raw_dim(dim)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FDEParams:
        try:
            return cls(**d)
        except TypeError as e:
            raise InvalidArgument(f"bad FDE parameters {d!r}: {e}") from None


@dataclass(frozen=True)
class FDEMatrices:
    """The random draws behind an FDE: simhash (reps, dim, k_sim), projection (reps, dim, p), and the final count
    sketch (target index and sign per raw coordinate, or None)."""

    simhash: np.ndarray
    projection: np.ndarray
    final_index: np.ndarray | None
    final_sign: np.ndarray | None


@functools.lru_cache(maxsize=16)
def fde_matrices(params: FDEParams, dim: int) -> FDEMatrices:
    """The matrices of `params` for tokens of `dim` dimensions (deterministic; cached)."""
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise InvalidArgument(f"token dim must be a positive integer, got {dim!r}")
    r, k = params.reps, params.k_sim
    simhash = np.random.default_rng([params.seed, 1]).standard_normal((r, dim, k)).astype(np.float32)
    rng = np.random.default_rng([params.seed, 2])
    if params.projection == "identity":
        proj = np.broadcast_to(np.eye(dim, dtype=np.float32), (r, dim, dim))
    elif params.projection == "dense":
        p = params.d_proj
        proj = (rng.integers(0, 2, (r, dim, p)) * 2 - 1).astype(np.float32) / np.float32(np.sqrt(p))
    else:
        p = params.d_proj
        proj = np.zeros((r, dim, p), np.float32)
        idx = rng.integers(0, p, (r, dim))
        sign = (rng.integers(0, 2, (r, dim)) * 2 - 1).astype(np.float32)
        proj[np.arange(r)[:, None], np.arange(dim)[None, :], idx] = sign
    final_index = final_sign = None
    if params.final_dim is not None:
        frng = np.random.default_rng([params.seed, 3])
        raw = params.raw_dim(dim)
        final_index = frng.integers(0, params.final_dim, raw)
        final_sign = (frng.integers(0, 2, raw) * 2 - 1).astype(np.float32)
    for a in (simhash, proj, final_index, final_sign):
        if a is not None and a.flags.writeable:
            a.flags.writeable = False  # shared through the cache: nobody may change them
    return FDEMatrices(simhash, proj, final_index, final_sign)


@kernel
def _aggregate(proj, buckets, offsets, average, fill_empty, k_sim, out):
    # proj (T, R, p) float32, buckets (T, R) int64, out (n, R, B, p) float32 zeroed.
    n = offsets.shape[0] - 1
    n_rep = buckets.shape[1]
    n_part = out.shape[2]
    p = proj.shape[2]
    counts = np.zeros(n_part, np.int64)
    for i in range(n):
        t0 = offsets[i]
        t1 = offsets[i + 1]
        for r in range(n_rep):
            counts[:] = 0
            for t in range(t0, t1):
                b = buckets[t, r]
                counts[b] += 1
                for u in range(p):
                    out[i, r, b, u] += proj[t, r, u]
            if not average:
                continue
            for b in range(n_part):
                if counts[b] > 0:
                    inv = np.float32(1.0) / np.float32(counts[b])
                    for u in range(p):
                        out[i, r, b, u] *= inv
                elif fill_empty and t1 > t0:
                    nearest = t0
                    nearest_dist = k_sim + 1
                    for t in range(t0, t1):
                        x = buckets[t, r] ^ b
                        dist = 0
                        for _ in range(k_sim):
                            dist += x & 1
                            x >>= 1
                        if dist < nearest_dist:
                            nearest_dist = dist
                            nearest = t
                    for u in range(p):
                        out[i, r, b, u] = proj[nearest, r, u]


@kernel
def _matmul_small(x, m, out):
    # out = x @ m for a few rows of x (m is (d, c) C-contiguous): rows of m are streamed once per row of x.
    n, d = x.shape
    c = m.shape[1]
    for i in range(n):
        for u in range(c):
            out[i, u] = 0.0
        for j in range(d):
            xj = x[i, j]
            row = m[j]
            for u in range(c):
                out[i, u] += xj * row[u]


def _matmul(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    if x.shape[0] > _SMALL_TOKENS:
        return x @ m
    out = np.empty((x.shape[0], m.shape[1]), np.float32)
    _matmul_small(np.ascontiguousarray(x, dtype=np.float32), m, out)
    return out


@functools.lru_cache(maxsize=16)
def _flat_matrices(params: FDEParams, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """simhash as (dim, reps * k_sim) and projection as (dim, reps * p), C-contiguous, for one matmul each."""
    m = fde_matrices(params, dim)
    r, k, p = params.reps, params.k_sim, params.block_dim(dim)
    return (
        np.ascontiguousarray(m.simhash.transpose(1, 0, 2).reshape(dim, r * k)),
        np.ascontiguousarray(m.projection.transpose(1, 0, 2).reshape(dim, r * p)),
    )


def simhash_buckets(tokens: np.ndarray, simhash: np.ndarray, flat: np.ndarray | None = None) -> np.ndarray:
    """(T, reps) partition index of each token per repetition: bit j (from the top) = <g_j, x> > 0."""
    reps, dim, k = simhash.shape
    if k == 0:
        return np.zeros((tokens.shape[0], reps), np.int64)
    if flat is None:
        flat = np.ascontiguousarray(simhash.transpose(1, 0, 2).reshape(dim, reps * k))
    bits = _matmul(tokens, flat).reshape(-1, reps, k) > 0
    weights = (1 << np.arange(k - 1, -1, -1)).astype(np.int64)
    return bits.astype(np.int64) @ weights


def encode_flat(params: FDEParams, tokens: np.ndarray, offsets: np.ndarray, *, document: bool) -> np.ndarray:
    """FDEs of a validated flat batch (tokens (T, dim) float32, offsets (n + 1,)): (n, fde_dim) float32."""
    dim = tokens.shape[1]
    m = fde_matrices(params, dim)
    reps, nb, p = params.reps, params.n_partitions, params.block_dim(dim)
    n = offsets.shape[0] - 1
    raw = np.zeros((n, reps, nb, p), np.float32)
    simhash_matrix, proj_matrix = _flat_matrices(params, dim)
    chunk_tokens = max(1024, _CHUNK_VALUES // (reps * p))
    start = 0
    while start < n:  # whole documents, about chunk_tokens tokens per chunk
        stop = int(np.searchsorted(offsets, offsets[start] + chunk_tokens, side="right")) - 1
        stop = min(max(stop, start + 1), n)
        t0, t1 = offsets[start], offsets[stop]
        chunk = tokens[t0:t1]
        buckets = simhash_buckets(chunk, m.simhash, simhash_matrix)
        projected = np.ascontiguousarray(_matmul(chunk, proj_matrix).reshape(-1, reps, p), dtype=np.float32)
        _aggregate(
            projected, buckets, offsets[start : stop + 1] - t0, document, document and params.fill_empty,
            params.k_sim, raw[start:stop],
        )  # fmt: skip
        start = stop
    flat = raw.reshape(n, -1)
    if params.final_dim is None:
        return flat
    return count_sketch(flat, m.final_index, m.final_sign, params.final_dim)


def count_sketch(x: np.ndarray, index: np.ndarray, sign: np.ndarray, out_dim: int) -> np.ndarray:
    """out[:, index[j]] += sign[j] * x[:, j] for every column j."""
    order = np.argsort(index, kind="stable")
    idx = index[order]
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    out = np.zeros((x.shape[0], out_dim), np.float32)
    if x.shape[0]:
        out[:, idx[starts]] = np.add.reduceat(x[:, order] * sign[order], starts, axis=1)
    return out


def _encode(params: FDEParams, sets: object, dim: int | None, document: bool) -> np.ndarray:
    if not isinstance(params, FDEParams):
        raise InvalidArgument(f"params must be FDEParams, got {type(params).__name__}")
    what = "document" if document else "query"
    if isinstance(sets, tuple) and len(sets) == 2:
        tokens, offsets = sets
        if dim is None:
            dim = int(np.shape(tokens)[1]) if np.ndim(tokens) == 2 else 0
        tokens, offsets = check_flat(tokens, offsets, dim, what)
    else:
        if dim is None:
            first = sets[0] if isinstance(sets, list | np.ndarray) and len(sets) else None
            dim = int(np.shape(first)[-1]) if first is not None and np.ndim(first) == 2 else 0
        if dim < 1:
            raise InvalidArgument(f"cannot tell the token dimension of these {what}s: pass dim=")
        tokens, offsets = as_token_sets(sets, dim, what)
    return encode_flat(params, tokens, offsets, document=document)


def encode_documents(params: FDEParams, docs: object, dim: int | None = None) -> np.ndarray:
    """Document FDEs: (n_docs, fde_dim) float32. docs: list of (n_tokens, dim) arrays, or (flat tokens, offsets).
    Tokens are used as given (normalise them first for cosine-style MaxSim)."""
    return _encode(params, docs, dim, True)


def encode_queries(params: FDEParams, queries: object, dim: int | None = None) -> np.ndarray:
    """Query FDEs (sums per partition, no filling): (n_queries, fde_dim) float32."""
    return _encode(params, queries, dim, False)
