"""Learned recurrent binarization: u+1 sign planes per vector, trained on the collection's own vectors.

See _recurrent.py for the model and its training. Codes are (n, P * W) uint64: P = bits_per_dim planes of
W = ceil(code_dim / 64) words. Queries go through the same encoder and rows are ranked by -<B_q, B_x>,
B = sum_i 2^-i b_i, computed from popcounts by the weighted multi-plane Hamming kernel (kernels/binary.py) with
plane-pair weights 2^-(i+j). Inference is plain numpy (no torch import at search time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from ..kernels import binary
from . import _recurrent
from .base import Codec, CompressionSpec, PreparedQueries, check_float, check_int, sample_rows

MAX_PLANES = 4


@dataclass(frozen=True)
class LearnedBinary(CompressionSpec):
    """bits_per_dim: sign planes (u + 1, 1..4); code_dim: bits per plane (None: the vector dimension);
    hidden: width of each encoder's residual MLP (0: linear encoders); epochs, batch_size, lr: training;
    neighbours: mined nearest neighbours per anchor; temperature: teacher softmax temperature relative to the
    spread of similarities; recon_weight: weight of the reconstruction loss; train_size: training sample;
    validation: held-out vectors for choosing the best epoch."""

    bits_per_dim: int = 2
    code_dim: int | None = None
    hidden: int = 0
    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3
    neighbours: int = 10
    temperature: float = 0.4
    recon_weight: float = 0.1
    train_size: int = 20_000
    validation: int = 500

    kind = "learned_binary"

    def __post_init__(self) -> None:
        check_int("bits_per_dim", self.bits_per_dim, 1, MAX_PLANES)
        if self.code_dim is not None:
            check_int("code_dim", self.code_dim, 1, 1 << 16)
        check_int("hidden", self.hidden, 0, 1 << 14)
        check_int("epochs", self.epochs, 0, 10_000)
        check_int("batch_size", self.batch_size, 1, 1 << 16)
        check_float("lr", self.lr, 0.0, 1.0, open_low=True)
        check_int("neighbours", self.neighbours, 0, 1024)
        check_float("temperature", self.temperature, 0.0, 100.0, open_low=True)
        check_float("recon_weight", self.recon_weight, 0.0, 1e6)
        check_int("train_size", self.train_size, 2, 10_000_000)
        check_int("validation", self.validation, 0, 1_000_000)

    def make_codec(self) -> LearnedBinaryCodec:
        return LearnedBinaryCodec(self)


def plane_weights(planes: int) -> np.ndarray:
    return (0.5 ** np.arange(planes)).astype(np.float32)


class LearnedBinaryCodec(Codec):
    spec: LearnedBinary
    code_dtype = np.dtype(np.uint64)

    def __init__(self, spec: LearnedBinary) -> None:
        super().__init__(spec)
        self.code_dim = 0
        self.params: dict[str, np.ndarray] = {}
        self.training_log: dict = {}

    @property
    def planes(self) -> int:
        return self.spec.bits_per_dim

    @property
    def pair_weights(self) -> np.ndarray:
        a = plane_weights(self.planes)
        return np.outer(a, a).astype(np.float32)

    def fit(self, x: np.ndarray, *, metric: str, seed: int = 0, progress: bool | None = None) -> None:
        s = self.spec
        x = self._start_fit(x, metric, min_rows=2)
        sample = x[sample_rows(x.shape[0], s.train_size, seed)]
        code_dim = s.code_dim or x.shape[1]
        params, log = _recurrent.train(
            sample,
            self.metric,
            planes=self.planes,
            code_dim=code_dim,
            hidden=s.hidden,
            epochs=s.epochs,
            batch_size=s.batch_size,
            neighbours=s.neighbours,
            lr=s.lr,
            temperature=s.temperature,
            recon_weight=s.recon_weight,
            validation=s.validation,
            seed=seed,
            progress=progress,
        )
        self.params, self.training_log, self.code_dim = params, log, code_dim
        self.dim = x.shape[1]

    @property
    def code_width(self) -> int:
        self._need_fitted()
        return self.planes * binary.words_for(self.code_dim)

    def encode(self, x: np.ndarray) -> np.ndarray:
        x = self._check_queries(x)
        out = np.empty((x.shape[0], self.code_width), np.uint64)
        nw = binary.words_for(self.code_dim)
        for s in range(0, x.shape[0], 16_384):
            planes = _recurrent.encode_planes(x[s : s + 16_384], self.params, self.planes, self.spec.hidden)
            for i, bits in enumerate(planes):
                out[s : s + 16_384, i * nw : (i + 1) * nw] = binary.pack_bits(bits)
        return out

    def decode(self, codes: np.ndarray) -> np.ndarray:
        codes = self.check_codes(codes)
        nw = binary.words_for(self.code_dim)
        signs = [
            2.0 * binary.unpack_bits(codes[:, i * nw : (i + 1) * nw], self.code_dim).astype(np.float32) - 1.0
            for i in range(self.planes)
        ]
        return _recurrent.decode_planes(signs, self.params)

    def prepare(self, queries: np.ndarray) -> PreparedQueries:
        codes = self.encode(queries)
        return PreparedQueries(codes.shape[0], {"codes": codes})

    def scan_topk(self, queries, code_blocks, allowed, k):
        codes = self._prepared(queries).data["codes"]
        return binary.weighted_scan_topk(codes, code_blocks, allowed, k, self.pair_weights)

    def distances(self, queries, codes, rows=None):
        q = self._prepared(queries).data["codes"]
        return binary.weighted_distances(q, self.check_codes(codes), rows, self.pair_weights)

    def similarity(self, weighted_dist: np.ndarray) -> np.ndarray:
        """Weighted Hamming distances -> code inner products <B_q, B_x>."""
        return binary.to_similarity(weighted_dist, self.code_dim, self.pair_weights)

    def _meta(self) -> dict[str, Any]:
        return {"code_dim": self.code_dim, "training": self.training_log}

    def _arrays(self) -> dict[str, np.ndarray]:
        return dict(self.params)

    def _load(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.code_dim = int(meta["code_dim"])
        self.training_log = dict(meta.get("training") or {})
        need = [f"{n}{i}" for i in range(self.planes) for n in ("enc_w", "enc_b", "dec_w", "dec_b")]
        if self.spec.hidden:
            need += [f"{n}{i}" for i in range(self.planes) for n in ("mlp1_w", "mlp1_b", "mlp2_w", "mlp2_b")]
        missing = [n for n in need if n not in arrays]
        if missing:
            raise InvalidArgument(f"learned binarization state is missing arrays {missing}")
        self.params = {n: np.asarray(arrays[n], np.float32) for n in need}
        if self.params["enc_w0"].shape != (self.code_dim, self.dim):
            raise InvalidArgument("learned binarization state does not match its dimensions")
