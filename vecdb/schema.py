"""Collection schemas: frozen dataclasses, validated once at construction, serialisable to plain dicts.

The dict form is what LMDB stores and what the wire carries, so `from_dict(to_dict(x)) == x` always holds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .errors import InvalidArgument
from .params import HNSWParams

METRICS = ("cosine", "dot", "l2")
MAX_DIM = 65_536
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,63}$")


def check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgument(
            f"{what} name {name!r} is invalid: use 1-64 characters, letters, digits, '_', '.', '-', "
            "starting with a letter or '_'"
        )
    return name


def check_collection_name(name: object) -> str:
    # Collection names never touch the filesystem, but the rule also keeps them safe in URLs, logs and shells.
    if not isinstance(name, str) or not _COLLECTION_NAME.fullmatch(name):
        raise InvalidArgument(
            f"collection name {name!r} is invalid: use 1-64 characters, letters, digits, '_' or '-', "
            "not starting with '-'"
        )
    return name


@dataclass(frozen=True)
class Dense:
    """A dense float vector field: `dim` float32 values compared by `metric` (cosine, dot or l2).

    index: the HNSW graph maintained for the field (None: exact search only). Rows are indexed by the upsert that
    brings the unindexed tail to `index.index_threshold` rows, or by Collection.build_index(); until then they
    are scanned exactly, so results never miss a point.
    compression: a codec kept beside the float vectors (vecdb.compression spec, kind string like "sign" /
    "pq:48" / "learned:2", or its dict form; None: none). Searches of a compressed field without an index (or
    with SearchParams(use_codes=True)) scan the codes and rescore an oversampled candidate list exactly.
    """

    dim: int
    metric: str = "cosine"
    index: HNSWParams | None = HNSWParams()
    compression: Any = None

    kind = "dense"

    def __post_init__(self) -> None:
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or not 1 <= self.dim <= MAX_DIM:
            raise InvalidArgument(f"Dense dim must be an integer in [1, {MAX_DIM}], got {self.dim!r}")
        if self.metric not in METRICS:
            raise InvalidArgument(f"unknown metric {self.metric!r}: choose one of {', '.join(METRICS)}")
        if isinstance(self.index, Mapping):
            object.__setattr__(self, "index", HNSWParams.from_dict(self.index))
        if self.index is not None and not isinstance(self.index, HNSWParams):
            raise InvalidArgument(f"index must be HNSWParams(...) or None, got {self.index!r}")
        if self.compression is not None:
            from .compression.engine import spec_for_field

            object.__setattr__(self, "compression", spec_for_field(self.compression, self.dim))

    @property
    def row_bytes(self) -> int:
        return 4 * self.dim

    def to_dict(self) -> dict[str, Any]:
        d = {
            "kind": self.kind,
            "dim": self.dim,
            "metric": self.metric,
            "index": self.index.to_dict() if self.index is not None else None,
        }
        if self.compression is not None:  # absent (not None) when unset: older schemas read back unchanged
            d["compression"] = self.compression.to_dict()
        return d


@dataclass(frozen=True)
class Binary:
    """A binary field given directly (binary embedding models): `bits` bits per point, packed into uint64 words,
    compared by Hamming distance (the number of differing bits; the score is -distance). Vectors are given as
    packed bytes (n, ceil(bits / 8)) uint8, packed words (n, ceil(bits / 64)) uint64, or a 0/1 array (n, bits).
    Searched by an exact scan (no graph index)."""

    bits: int
    metric: str = "hamming"

    kind = "binary"

    def __post_init__(self) -> None:
        if isinstance(self.bits, bool) or not isinstance(self.bits, int) or not 1 <= self.bits <= 64 * MAX_DIM:
            raise InvalidArgument(f"Binary bits must be an integer in [1, {64 * MAX_DIM}], got {self.bits!r}")
        if self.metric != "hamming":
            raise InvalidArgument(f"Binary fields are compared by 'hamming', got metric {self.metric!r}")

    @property
    def words(self) -> int:
        return (self.bits + 63) // 64

    @property
    def row_bytes(self) -> int:
        return 8 * self.words

    @property
    def index(self) -> None:
        return None

    compression = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "bits": self.bits, "metric": self.metric}


@dataclass(frozen=True)
class MultiVector:
    """A multi-vector field: each point holds a set of token vectors (n_tokens x dim), scored by MaxSim (sum over
    query tokens of the best document-token dot product).

    normalize: unit-length tokens (the ColBERT convention). compression: how tokens are stored
    (vecdb.multivector.TokenCompression: none / int8 / binary / residual). fde: the MUVERA fixed dimensional
    encoding of each document, indexed as a dense field (by `index`, an HNSW graph over FDEs, or scanned when
    None); searches take FDE candidates and re-rank them by exact MaxSim.
    """

    dim: int
    metric: str = "maxsim"
    normalize: bool = True
    compression: Any = None
    fde: Any = None
    index: HNSWParams | None = HNSWParams()

    kind = "multi_vector"

    def __post_init__(self) -> None:
        from .multivector import FDEParams, TokenCompression

        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or not 1 <= self.dim <= MAX_DIM:
            raise InvalidArgument(f"MultiVector dim must be an integer in [1, {MAX_DIM}], got {self.dim!r}")
        if self.metric != "maxsim":
            raise InvalidArgument(f"MultiVector fields are scored by 'maxsim', got metric {self.metric!r}")
        if not isinstance(self.normalize, bool):
            raise InvalidArgument(f"normalize must be a boolean, got {self.normalize!r}")
        comp = self.compression
        if comp is None:
            comp = TokenCompression()
        elif isinstance(comp, str):
            comp = TokenCompression(kind=comp)
        elif isinstance(comp, Mapping):
            comp = TokenCompression.from_dict(dict(comp))
        if not isinstance(comp, TokenCompression):
            raise InvalidArgument(f"compression must be a TokenCompression, a kind name or None, got {comp!r}")
        fde = self.fde
        if fde is None:
            fde = FDEParams(k_sim=4, reps=20, d_proj=16)
        elif isinstance(fde, Mapping):
            fde = FDEParams.from_dict(dict(fde))
        if not isinstance(fde, FDEParams):
            raise InvalidArgument(f"fde must be FDEParams(...) or None, got {fde!r}")
        index = HNSWParams.from_dict(self.index) if isinstance(self.index, Mapping) else self.index
        if index is not None and not isinstance(index, HNSWParams):
            raise InvalidArgument(f"index must be HNSWParams(...) or None, got {index!r}")
        object.__setattr__(self, "compression", comp)
        object.__setattr__(self, "fde", fde)
        object.__setattr__(self, "index", index)

    @property
    def fde_dim(self) -> int:
        return self.fde.fde_dim(self.dim)

    def fde_field(self) -> Dense:
        """The hidden dense field holding each document's FDE."""
        return Dense(self.fde_dim, "dot", index=self.index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dim": self.dim,
            "metric": self.metric,
            "normalize": self.normalize,
            "compression": self.compression.to_dict(),
            "fde": self.fde.to_dict(),
            "index": self.index.to_dict() if self.index is not None else None,
        }


class PayloadType(StrEnum):
    """Types of declared (filterable) payload fields."""

    KEYWORD = "keyword"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    KEYWORD_SET = "keyword_set"
    DATETIME = "datetime"  # stored as an integer: microseconds since the Unix epoch, UTC


VectorField = Dense | MultiVector | Binary
_FIELD_KINDS: dict[str, type] = {"dense": Dense, "multi_vector": MultiVector, "binary": Binary}


def vector_field_from_dict(d: Mapping[str, Any]) -> VectorField:
    kind = d.get("kind", "dense")
    cls = _FIELD_KINDS.get(kind)
    if cls is None:
        raise InvalidArgument(f"unknown vector field kind {kind!r}")
    args = {k: v for k, v in d.items() if k != "kind"}
    try:
        return cls(**args)
    except TypeError as e:
        raise InvalidArgument(f"bad {kind} field definition {dict(d)!r}: {e}") from None


def _coerce_payload_type(name: str, t: object) -> PayloadType:
    try:
        return PayloadType(t.value if isinstance(t, PayloadType) else t)
    except ValueError:
        choices = ", ".join(p.value for p in PayloadType)
        raise InvalidArgument(f"payload field {name!r} has unknown type {t!r}: choose one of {choices}") from None


@dataclass(frozen=True)
class CollectionSchema:
    """Named vector fields and declared payload fields of one collection."""

    vectors: Mapping[str, VectorField]
    payload: Mapping[str, PayloadType] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.vectors, Mapping) or not self.vectors:
            raise InvalidArgument("a collection needs at least one vector field, e.g. {'embedding': Dense(384)}")
        vecs: dict[str, VectorField] = {}
        for name, f in self.vectors.items():
            check_name(name, "vector field")
            if isinstance(f, Mapping):
                f = vector_field_from_dict(f)
            if not isinstance(f, tuple(_FIELD_KINDS.values())):
                raise InvalidArgument(f"vector field {name!r} must be a field definition like Dense(384), got {f!r}")
            vecs[name] = f
        if not isinstance(self.payload, Mapping):
            raise InvalidArgument("payload must map field names to types, e.g. {'lang': 'keyword'}")
        pay = {check_name(n, "payload field"): _coerce_payload_type(n, t) for n, t in self.payload.items()}
        object.__setattr__(self, "vectors", dict(vecs))
        object.__setattr__(self, "payload", pay)

    def field(self, name: str) -> VectorField:
        try:
            return self.vectors[name]
        except KeyError:
            known = ", ".join(sorted(self.vectors))
            raise InvalidArgument(f"unknown vector field {name!r}: this collection has {known}") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "vectors": {n: f.to_dict() for n, f in self.vectors.items()},
            "payload": {n: t.value for n, t in self.payload.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CollectionSchema:
        if not isinstance(d, Mapping) or "vectors" not in d:
            raise InvalidArgument("a schema needs a 'vectors' mapping")
        vectors = d["vectors"]
        if not isinstance(vectors, Mapping):
            raise InvalidArgument("schema 'vectors' must be a mapping of field name to definition")
        payload = d.get("payload") or {}
        if not isinstance(payload, Mapping):
            raise InvalidArgument(
                f"schema 'payload' must be a mapping of field name to type, got {type(payload).__name__}"
            )
        return cls(
            vectors={n: vector_field_from_dict(f) if isinstance(f, Mapping) else f for n, f in vectors.items()},
            payload=dict(payload),
        )
