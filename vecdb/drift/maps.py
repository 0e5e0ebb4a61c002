"""Query-drift maps: what a fitted map is, how it is applied at query time, and how it persists.

A map sends query embeddings of a NEW model version into the space of the model version the index was built
with, so a collection can keep serving while its corpus is re-embedded (or forever, if it never is).

- `DriftMapSpec`: the kind of map and its hyper-parameters (frozen, validated once, to_dict/from_dict).
- `DriftMap`: a fitted map = spec + a few float32 arrays + `FitInfo` (how it was fitted and how well it did on
  held-out pairs). `apply` is plain numpy (one or two small matmuls), `state`/`from_state` give the
  (json-able dict, dict of arrays) pair the engine stores in LMDB.

Fitting lives in vecdb/drift/fit.py; the residual MLP's torch training in vecdb/drift/mlp.py. Applying a map
never imports torch: the MLP is evaluated in numpy from its stored weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import CorruptDatabase, InvalidArgument

STATE_VERSION = 1

# Kinds that keep the dimension and therefore need d_src == d_dst.
SAME_DIM_KINDS = frozenset({"mean_shift", "procrustes"})
FITTED_KINDS = ("mean_shift", "procrustes", "ridge", "low_rank", "mlp")
KINDS = (*FITTED_KINDS, "auto")
MLP_LOSSES = ("infonce", "cosine", "mse")
MLP_INITS = ("auto", "procrustes", "ridge")


def _float_param(kind: str, name: str, v: Any, lo: float, hi: float, *, lo_open: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise InvalidArgument(f"{kind} map: {name} must be a finite number, got {v!r}")
    if v < lo or v > hi or (lo_open and v == lo):
        bound = f"({lo}, {hi}]" if lo_open else f"[{lo}, {hi}]"
        raise InvalidArgument(f"{kind} map: {name} must be in {bound}, got {v!r}")
    return float(v)


def _int_param(kind: str, name: str, v: Any, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
        raise InvalidArgument(f"{kind} map: {name} must be an integer in [{lo}, {hi}], got {v!r}")
    return int(v)


def _choice_param(kind: str, name: str, v: Any, choices: tuple[str, ...]) -> str:
    if v not in choices:
        raise InvalidArgument(f"{kind} map: {name} must be one of {list(choices)}, got {v!r}")
    return str(v)


def _alpha(kind: str, v: Any) -> float | None:
    return None if v is None else _float_param(kind, "alpha", v, 0.0, 1e6)


def _kinds(kind: str, v: Any) -> tuple[str, ...]:
    if isinstance(v, str) or not isinstance(v, (list, tuple)) or not v:
        raise InvalidArgument(f"{kind} map: kinds must be a non-empty list of map kinds, got {v!r}")
    for k in v:
        _choice_param(kind, "kinds[]", k, FITTED_KINDS)
    if len(set(v)) != len(v):
        raise InvalidArgument(f"{kind} map: kinds has duplicates: {list(v)}")
    return tuple(v)


# Per kind: parameter name -> (default, validator). Parameters are few per kind, so one spec class with a
# validated mapping keeps the API to a single type (one proto message: kind + params) without a constructor that
# takes every knob of every kind.
_PARAMS: dict[str, dict[str, tuple[Any, Any]]] = {
    "mean_shift": {},
    "procrustes": {},
    "ridge": {
        # None: chosen on an inner split of the training pairs from a small grid.
        "alpha": (None, _alpha),
        "intercept": (True, None),
    },
    "low_rank": {
        "rank": (64, lambda k, v: _int_param(k, "rank", v, 1, 65_536)),
        "alpha": (None, _alpha),
    },
    "mlp": {
        "hidden": (256, lambda k, v: _int_param(k, "hidden", v, 1, 65_536)),
        "epochs": (20, lambda k, v: _int_param(k, "epochs", v, 1, 10_000)),
        "lr": (3e-4, lambda k, v: _float_param(k, "lr", v, 0.0, 1.0, lo_open=True)),
        "batch_size": (512, lambda k, v: _int_param(k, "batch_size", v, 2, 1_000_000)),
        "weight_decay": (0.01, lambda k, v: _float_param(k, "weight_decay", v, 0.0, 10.0)),
        "loss": ("infonce", lambda k, v: _choice_param(k, "loss", v, MLP_LOSSES)),
        "tau": (0.05, lambda k, v: _float_param(k, "tau", v, 0.0, 10.0, lo_open=True)),
        "init": ("auto", lambda k, v: _choice_param(k, "init", v, MLP_INITS)),
    },
    "auto": {
        "kinds": (FITTED_KINDS, _kinds),
    },
}


def _bool_param(kind: str, name: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise InvalidArgument(f"{kind} map: {name} must be a boolean, got {v!r}")
    return v


@dataclass(frozen=True)
class DriftMapSpec:
    """Which map to fit and with which hyper-parameters.

    kind: mean_shift | procrustes | ridge | low_rank | mlp | auto. params: the kind's parameters (missing ones
    take their defaults; unknown ones are rejected):
    - ridge: alpha (float >= 0, or None to choose it on an inner split), intercept (bool);
    - low_rank: rank (int), alpha (as ridge);
    - mlp: hidden, epochs, lr, batch_size, weight_decay, loss (infonce | cosine | mse), tau (InfoNCE
      temperature), init (auto | procrustes | ridge: the closed-form map the residual MLP starts from);
    - auto: kinds (the kinds to try; those that cannot fit the dimensions are skipped).
    """

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in _PARAMS:
            raise InvalidArgument(f"unknown drift map kind {self.kind!r}: choose one of {list(KINDS)}")
        if not isinstance(self.params, Mapping):
            raise InvalidArgument(f"params must be a mapping, got {type(self.params).__name__}")
        allowed = _PARAMS[self.kind]
        unknown = sorted(set(self.params) - set(allowed))
        if unknown:
            raise InvalidArgument(
                f"{self.kind} map: unknown parameter(s) {unknown}; allowed: {sorted(allowed) or 'none'}"
            )
        full = {}
        for name, (default, check) in allowed.items():
            v = self.params.get(name, default)
            if name == "intercept":
                v = _bool_param(self.kind, name, v)
            elif check is not None:
                v = check(self.kind, v)
            full[name] = v
        object.__setattr__(self, "params", MappingProxyType(full))

    def __hash__(self) -> int:
        return hash((self.kind, tuple(sorted((k, repr(v)) for k, v in self.params.items()))))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DriftMapSpec) and self.to_dict() == other.to_dict()

    def __getitem__(self, name: str) -> Any:
        return self.params[name]

    def replace(self, **params: Any) -> DriftMapSpec:
        return DriftMapSpec(self.kind, {**self.params, **params})

    def to_dict(self) -> dict[str, Any]:
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.params.items()}
        return {"kind": self.kind, "params": params}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DriftMapSpec:
        if not isinstance(d, Mapping) or "kind" not in d:
            raise InvalidArgument(f"a drift map spec needs a 'kind', got {d!r}")
        return cls(d["kind"], dict(d.get("params") or {}))


@dataclass(frozen=True)
class FitInfo:
    """How a map was fitted and how well it did on pairs it never saw.

    holdout_cosine: mean cosine between mapped source and true target on held-out pairs (baseline: the same
    without a map, when the dimensions agree). holdout_recall_at_10: fraction of held-out mapped sources whose
    own target is among their 10 nearest held-out targets (cosine). holdout_neighbour_recall_at_10: overlap of
    the 10 nearest held-out targets of the mapped source with those of the true target (itself excluded), i.e.
    how much of what the true index-model query would retrieve the mapped query retrieves too.
    refit: the held-out figures describe the map fitted on the training part; the stored map was then refitted
    on all pairs with the same (chosen) hyper-parameters. chosen: hyper-parameters picked during the fit.
    candidates: for `auto`, each kind tried with its held-out figures (or the reason it was skipped).
    """

    n_pairs: int
    n_train: int
    n_holdout: int
    seed: int
    fit_seconds: float
    holdout_cosine: float | None = None
    holdout_cosine_no_map: float | None = None
    holdout_recall_at_10: float | None = None
    holdout_neighbour_recall_at_10: float | None = None
    holdout_source: str = "split"  # "split" (random part of the pairs), "given" (validation pairs), "none"
    refit: bool = False
    chosen: Mapping[str, Any] = field(default_factory=dict)
    candidates: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["chosen"] = dict(self.chosen)
        d["candidates"] = [dict(c) for c in self.candidates]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FitInfo:
        d = dict(d)
        d["candidates"] = tuple(d.get("candidates") or ())
        d["chosen"] = dict(d.get("chosen") or {})
        return cls(**d)


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    # The tanh form of GELU: the MLP is trained with torch's approximate="tanh" so numpy matches it exactly.
    return 0.5 * x * (1.0 + np.tanh(np.float32(0.7978845608028654) * (x + np.float32(0.044715) * x * x * x)))


# Which arrays each kind stores, with their shapes in terms of (d_src, d_dst, width).
_ARRAYS = {
    "mean_shift": {"b": ("dst",)},
    "procrustes": {"W": ("src", "dst")},
    "ridge": {"W": ("src", "dst"), "b": ("dst",)},
    "low_rank": {"A": ("src", "rank"), "B": ("rank", "dst"), "b": ("dst",)},
    "mlp": {
        "W": ("src", "dst"),
        "b": ("dst",),
        "W1": ("src", "hid"),
        "b1": ("hid",),
        "W2": ("hid", "dst"),
        "b2": ("dst",),
    },
}


class DriftMap:
    """A fitted query map from a source model version (d_src) into the index model's space (d_dst)."""

    __slots__ = ("spec", "d_src", "d_dst", "arrays", "info")

    def __init__(self, spec: DriftMapSpec, d_src: int, d_dst: int, arrays: Mapping[str, np.ndarray], info: FitInfo):
        if spec.kind == "auto":
            raise InvalidArgument("a fitted map has a concrete kind, not 'auto'")
        self.spec = spec
        self.d_src = int(d_src)
        self.d_dst = int(d_dst)
        self.info = info
        self.arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
        self._check_arrays()

    def _check_arrays(self) -> None:
        want = _ARRAYS[self.spec.kind]
        if set(self.arrays) != set(want):
            raise CorruptDatabase(f"{self.spec.kind} drift map needs arrays {sorted(want)}, has {sorted(self.arrays)}")
        sizes = {"src": self.d_src, "dst": self.d_dst}
        if "A" in self.arrays:
            sizes["rank"] = self.arrays["A"].shape[-1]
        if "W1" in self.arrays:
            sizes["hid"] = self.arrays["W1"].shape[-1]
        for name, dims in want.items():
            shape = tuple(sizes[d] for d in dims)
            if self.arrays[name].shape != shape:
                raise CorruptDatabase(
                    f"{self.spec.kind} drift map: array {name} has shape {self.arrays[name].shape}, expected {shape}"
                )

    @property
    def kind(self) -> str:
        return self.spec.kind

    def apply(self, queries: np.ndarray) -> np.ndarray:
        """Map (n, d_src) queries (or one (d_src,) query) into the index space: float32 (n, d_dst) (or (d_dst,)).

        The output is not normalised: the engine normalises it for cosine fields like any other query.
        """
        q = np.asarray(queries)
        if q.dtype != np.float32:
            if not np.issubdtype(q.dtype, np.number) or np.iscomplexobj(q):
                raise InvalidArgument(f"queries must be real numbers, got dtype {q.dtype}")
            q = q.astype(np.float32)
        single = q.ndim == 1
        if single:
            q = q[None, :]
        if q.ndim != 2 or q.shape[1] != self.d_src:
            raise InvalidArgument(
                f"{self.kind} drift map takes queries of dimension {self.d_src}, got shape {np.shape(queries)}"
            )
        if not np.isfinite(q).all():
            raise InvalidArgument("queries contain NaN or infinite values")
        out = self._forward(q)
        return out[0] if single else out

    def _forward(self, q: np.ndarray) -> np.ndarray:
        # Plain numpy: a Numba kernel for the single-query matvec measured no faster than BLAS (7.5 vs 7.9 us best
        # case, 41 vs 38 us median on a loaded machine), see the report of benchmarks/drift.py.
        a = self.arrays
        kind = self.spec.kind
        if kind == "mean_shift":
            return q + a["b"]
        if kind == "procrustes":
            return q @ a["W"]
        if kind == "ridge":
            out = q @ a["W"]
            out += a["b"]
            return out
        if kind == "low_rank":
            out = (q @ a["A"]) @ a["B"]
            out += a["b"]
            return out
        # mlp: a linear map plus a residual correction learned on top of it.
        h = _gelu_tanh(q @ a["W1"] + a["b1"])
        out = q @ a["W"] + a["b"]
        out += h @ a["W2"] + a["b2"]
        return out

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(json-able metadata, float32 arrays): everything `from_state` needs, for the engine to store in LMDB."""
        meta = {
            "version": STATE_VERSION,
            "spec": self.spec.to_dict(),
            "d_src": self.d_src,
            "d_dst": self.d_dst,
            "info": self.info.to_dict(),
        }
        return meta, {k: v.copy() for k, v in self.arrays.items()}

    @classmethod
    def from_state(cls, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> DriftMap:
        try:
            version = meta["version"]
            if version != STATE_VERSION:
                raise CorruptDatabase(f"drift map state version {version} is not supported (this is {STATE_VERSION})")
            spec = DriftMapSpec.from_dict(meta["spec"])
            return cls(spec, meta["d_src"], meta["d_dst"], arrays, FitInfo.from_dict(meta["info"]))
        except (KeyError, TypeError, InvalidArgument) as e:
            raise CorruptDatabase(f"stored drift map is damaged: {e}") from e

    def nbytes(self) -> int:
        return sum(v.nbytes for v in self.arrays.values())

    def __repr__(self) -> str:
        return (
            f"DriftMap({self.kind}, {self.d_src}->{self.d_dst}, n_pairs={self.info.n_pairs}, "
            f"holdout_cosine={self.info.holdout_cosine})"
        )
