"""The common interface of every codec: a frozen spec, fit / encode / decode, scoring on codes, persisted state.

A codec turns (n, dim) float32 vectors into (n, code_width) arrays of code_dtype, stored by the engine as fixed-
width row blocks like the vectors themselves. Search scores queries against codes (`scan_topk` over zero-copy row
blocks, `distances` for graph search), then `rescore` (vecdb.compression.rescore) re-ranks an oversampled
candidate list with the full-precision vectors. Distances follow the kernel convention: smaller is better.

Queries arrive prepared by the engine (unit length for cosine fields), so cosine behaves as dot here.
`prepare(queries)` does the per-query work once (encoding, lookup tables); graph search should call it once per
query batch and pass the result to `distances` at every hop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import numpy as np

from ..errors import FailedPrecondition, InvalidArgument
from ..params import check_int  # noqa: F401 - re-exported: the codec specs validate with it

METRICS = ("cosine", "dot", "l2")
_SPECS: dict[str, type[CompressionSpec]] = {}


@dataclass(frozen=True)
class CompressionSpec:
    """Base of the per-kind specs (one frozen dataclass each; maps to a protobuf oneof)."""

    kind: ClassVar[str] = ""

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.kind:
            _SPECS[cls.kind] = cls

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> CompressionSpec:
        if not isinstance(d, dict) or "kind" not in d:
            raise InvalidArgument(f"a compression spec needs a 'kind', got {d!r}")
        cls = _SPECS.get(d["kind"])
        if cls is None:
            raise InvalidArgument(f"unknown compression kind {d['kind']!r}: choose one of {', '.join(sorted(_SPECS))}")
        names = {f.name for f in fields(cls)}
        extra = set(d) - names - {"kind"}
        if extra:
            raise InvalidArgument(f"unknown parameters for {cls.kind} compression: {', '.join(sorted(extra))}")
        return cls(**{k: v for k, v in d.items() if k != "kind"})

    def make_codec(self) -> Codec:
        """A fresh, untrained codec for this spec."""
        raise NotImplementedError


def spec_kinds() -> list[str]:
    return sorted(_SPECS)


# ------------------------------------------------------------------ validation helpers shared by specs


def check_float(name: str, v: object, lo: float, hi: float, *, open_low: bool = False) -> None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)
    ok = ok and (lo < v if open_low else lo <= v) and v <= hi
    if not ok:
        low = "(" if open_low else "["
        raise InvalidArgument(f"{name} must be a number in {low}{lo}, {hi}], got {v!r}")


def check_choice(name: str, v: object, choices: tuple[str, ...]) -> None:
    if v not in choices:
        raise InvalidArgument(f"{name} must be one of {', '.join(choices)}, got {v!r}")


def check_bool(name: str, v: object) -> None:
    if not isinstance(v, bool):
        raise InvalidArgument(f"{name} must be a boolean, got {v!r}")


def check_vectors(x: object, dim: int | None, what: str = "vectors") -> np.ndarray:
    """(n, dim) finite float32, C-contiguous, or InvalidArgument."""
    try:
        arr = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"{what} must be a numeric array: {e}") from None
    if arr.ndim != 2:
        raise InvalidArgument(f"{what} must be a 2-D (n, dim) array, got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise InvalidArgument(f"{what} have dimension {arr.shape[1]}, the codec was fitted on {dim}")
    if not np.isfinite(arr).all():
        raise InvalidArgument(f"{what} contain NaN or infinity")
    return np.ascontiguousarray(arr)


def check_metric(metric: object) -> str:
    if metric not in METRICS:
        raise InvalidArgument(f"unknown metric {metric!r}: choose one of {', '.join(METRICS)}")
    return str(metric)


# ------------------------------------------------------------------ the codec interface


@dataclass
class PreparedQueries:
    """What a codec precomputes per query batch (codes, tables...); opaque to the engine."""

    n: int
    data: dict[str, np.ndarray]


class Codec(ABC):
    """A compression spec plus its fitted state. Subclasses set code_dtype and implement the abstract methods."""

    spec: CompressionSpec
    code_dtype: np.dtype

    def __init__(self, spec: CompressionSpec) -> None:
        self.spec = spec
        self.dim: int | None = None
        self.metric: str | None = None

    # -- lifecycle
    @property
    def fitted(self) -> bool:
        return self.dim is not None

    def _need_fitted(self) -> None:
        if not self.fitted:
            raise FailedPrecondition(f"the {self.spec.kind} codec is not trained yet: call fit() first")

    def _start_fit(self, x: object, metric: object, min_rows: int = 1) -> np.ndarray:
        metric = check_metric(metric)
        arr = check_vectors(x, None, "training vectors")
        if arr.shape[0] < min_rows:
            raise InvalidArgument(f"{self.spec.kind} needs at least {min_rows} training vectors, got {arr.shape[0]}")
        if arr.shape[1] < 1:
            raise InvalidArgument("training vectors have dimension 0")
        self.metric = metric
        return arr

    @abstractmethod
    def fit(self, x: np.ndarray, *, metric: str, seed: int = 0, progress: bool | None = None) -> None:
        """Learn the codec's parameters from the collection's own vectors (deterministic under `seed`)."""

    # -- shape of the codes
    @property
    @abstractmethod
    def code_width(self) -> int:
        """Items of code_dtype per vector."""

    @property
    def bytes_per_vector(self) -> float:
        return float(self.code_width * np.dtype(self.code_dtype).itemsize)

    @property
    def nested_candidates(self) -> bool:
        """Whether scan_topk's best c are the first c of its best c' > c (then calibration scans once for the
        largest factor and takes prefixes; else once per factor)."""
        return True

    # -- coding
    @abstractmethod
    def encode(self, x: np.ndarray) -> np.ndarray:
        """(n, dim) vectors -> (n, code_width) codes of code_dtype."""

    @abstractmethod
    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(n, code_width) codes -> (n, dim) approximate vectors (FailedPrecondition where meaningless)."""

    def check_codes(self, codes: object) -> np.ndarray:
        self._need_fitted()
        c = np.asarray(codes)
        if c.ndim != 2 or c.shape[1] != self.code_width or c.dtype != self.code_dtype:
            raise InvalidArgument(
                f"{self.spec.kind} codes must be (n, {self.code_width}) {np.dtype(self.code_dtype)}, "
                f"got {c.dtype} {c.shape}"
            )
        return np.ascontiguousarray(c)

    # -- scoring
    @abstractmethod
    def prepare(self, queries: np.ndarray) -> PreparedQueries:
        """Per-query-batch precomputation for scan_topk / distances."""

    def _prepared(self, queries: np.ndarray | PreparedQueries) -> PreparedQueries:
        if isinstance(queries, PreparedQueries):
            return queries
        return self.prepare(queries)

    def _check_queries(self, queries: object) -> np.ndarray:
        self._need_fitted()
        return check_vectors(queries, self.dim, "queries")

    @abstractmethod
    def scan_topk(
        self,
        queries: np.ndarray | PreparedQueries,
        code_blocks: list[tuple[int, np.ndarray]],
        allowed: np.ndarray,
        k: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Approximate top-k over (first_row, codes) blocks; (dist, rows) ascending, padded (+inf, -1)."""

    @abstractmethod
    def distances(
        self, queries: np.ndarray | PreparedQueries, codes: np.ndarray, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """Approximate distances (nq, len(rows)) to the selected code rows (all rows when rows is None)."""

    # -- persistence
    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(json-able dict, dict of numpy arrays): everything needed to rebuild the fitted codec."""
        self._need_fitted()
        meta = {"spec": self.spec.to_dict(), "dim": self.dim, "metric": self.metric, **self._meta()}
        return meta, {k: np.ascontiguousarray(v) for k, v in self._arrays().items()}

    def _meta(self) -> dict[str, Any]:
        return {}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Codec:
        """Rebuild a fitted codec from state(); the codec class follows meta['spec']['kind']."""
        try:
            spec = CompressionSpec.from_dict(dict(meta["spec"]))
            codec = spec.make_codec()
            if cls is not Codec and not isinstance(codec, cls):
                raise InvalidArgument(f"state holds a {spec.kind} codec, not a {cls.__name__}")
            codec.dim = int(meta["dim"])
            codec.metric = check_metric(meta["metric"])
            codec._load(meta, arrays)
        except KeyError as e:
            raise InvalidArgument(f"codec state is missing {e}") from None
        return codec

    def _load(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:  # noqa: B027 (optional hook)
        """Restore the fitted parameters (dim and metric are already set); codecs without any keep this."""

    def __repr__(self) -> str:
        state = f"dim={self.dim}, metric={self.metric!r}" if self.fitted else "untrained"
        return f"{type(self).__name__}({self.spec!r}, {state})"


def make_codec(spec: CompressionSpec | dict[str, Any]) -> Codec:
    """A fresh codec for a spec (or its dict form)."""
    if isinstance(spec, dict):
        spec = CompressionSpec.from_dict(spec)
    if not isinstance(spec, CompressionSpec):
        raise InvalidArgument(f"expected a CompressionSpec, got {spec!r}")
    return spec.make_codec()


def codec_from_state(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Codec:
    return Codec.from_state(meta, arrays)


def sample_rows(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted indices of min(n, size) rows drawn without replacement, deterministic under seed."""
    if size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def as_unit_if_cosine(x: np.ndarray, metric: str) -> np.ndarray:
    """Training data as the engine stores it: cosine fields hold unit vectors."""
    if metric != "cosine":
        return x
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms == 0).any():
        raise InvalidArgument("a zero vector has no cosine: cosine fields cannot hold zero vectors")
    return (x / norms).astype(np.float32)


def random_orthogonal(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """(rows, cols) with orthonormal rows when rows <= cols, else stacked blocks of orthonormal rows (a random
    rotation, or a rotation-and-expansion when more outputs than inputs are wanted)."""
    blocks = []
    left = rows
    while left > 0:
        g = rng.standard_normal((cols, cols))
        qm, r = np.linalg.qr(g)
        qm = qm * np.sign(np.diag(r))[None, :]  # unique (Haar) rotation
        blocks.append(qm.T[: min(left, cols)])
        left -= cols
    return np.concatenate(blocks).astype(np.float32)
