"""What reads return: points, hits of one query, pages of a scroll."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .ids import PointId


@dataclass(frozen=True)
class Point:
    id: PointId
    payload: dict[str, Any] | None = None
    vectors: dict[str, np.ndarray] | None = None


@dataclass(frozen=True)
class Hit:
    id: PointId
    score: float
    payload: dict[str, Any] | None = None


@dataclass(slots=True)  # slots: made on every search, at half the cost of a dict-backed instance
class Hits:
    """The results of one query, best first.

    scores are similarities (higher is better) for cosine and dot fields, Euclidean distances (lower is better)
    for l2 fields. `explain` says which search path ran and how much work it did.
    """

    ids: list[PointId]
    scores: np.ndarray
    payloads: list[dict[str, Any]] | None = None
    explain: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[Hit]:
        for i in range(len(self.ids)):
            yield self[i]

    def __getitem__(self, i: int) -> Hit:
        payload = self.payloads[i] if self.payloads is not None else None
        return Hit(self.ids[i], float(self.scores[i]), payload)

    def __repr__(self) -> str:
        body = ", ".join(f"{h.id!r}: {h.score:.4f}" for h in list(self)[:5])
        more = ", ..." if len(self) > 5 else ""
        return f"Hits([{body}{more}])"


@dataclass(frozen=True)
class ScrollPage:
    points: list[Point]
    next_offset: PointId | None
