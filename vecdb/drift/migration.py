"""Pieces for migrating a vector field to a new model version while it keeps serving.

The engine owns the registry of model versions and the LMDB transactions; these pieces own the rest:

1. `resolve_map`: which fitted map (if any) a search with a given query model version goes through, or a clear
   NotFound when none exists.
2. `PairReservoir`: while rows are re-embedded, every re-embedded row is a free (new, old) training pair; a
   seeded reservoir keeps a bounded uniform sample of them so a map can be (re)fitted at any point — queries of
   the new model are then served through that map long before the re-embedding ends.
3. `reembed`: the bounded background loop. It pulls batches of rows, calls the user's embedding function,
   hands each batch to the engine's `write` callback (one write transaction per batch, which should also store
   the checkpoint so a restart resumes after the last written row), feeds the reservoir, reports
   `MigrationProgress`, and stops on cancel. Flipping the active version is the engine's single transaction at
   the end (`progress.state == "done"` is the signal).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from ..errors import FailedPrecondition, InvalidArgument, NotFound
from .fit import fit_map
from .maps import DriftMap

STATES = ("pending", "running", "done", "failed", "cancelled")


def resolve_map(
    field: str, query_version: str | None, index_version: str, maps: Mapping[str, DriftMap]
) -> DriftMap | None:
    """The map a search must apply: None when the query already speaks the index's version (or names none),
    else the map fitted for `query_version`; NotFound, naming the versions that do have maps, when there is none."""
    if query_version is None or query_version == index_version:
        return None
    m = maps.get(query_version)
    if m is None:
        have = sorted(maps) or "none"
        raise NotFound(
            f"field {field!r} is indexed with model version {index_version!r} and has no drift map for queries "
            f"of version {query_version!r} (versions with a map: {have}); fit one from paired embeddings first"
        )
    return m


@dataclass(frozen=True)
class MigrationProgress:
    """Where a re-embedding stands. rows_done counts rows written under the new version (resumed runs include
    the rows done before the restart); rate is rows/s of this run; eta_seconds is None until a rate is known."""

    state: str = "pending"
    rows_done: int = 0
    rows_total: int = 0
    last_row: int | None = None  # the highest row id written: the resume checkpoint
    started_at: float | None = None
    updated_at: float | None = None
    rate: float | None = None
    eta_seconds: float | None = None
    pairs_sampled: int = 0
    error: str | None = None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise InvalidArgument(f"migration state must be one of {list(STATES)}, got {self.state!r}")
        if self.rows_done < 0 or self.rows_total < 0:
            raise InvalidArgument("row counts must be >= 0")

    @property
    def fraction(self) -> float:
        return 1.0 if self.rows_total == 0 else min(1.0, self.rows_done / self.rows_total)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MigrationProgress:
        return cls(**dict(d))


class PairReservoir:
    """A uniform sample of at most `capacity` (new, old) pairs out of all offered, seeded (Vitter's algorithm R,
    vectorised per batch), so fitting cost stays bounded however large the collection is."""

    def __init__(self, d_new: int, d_old: int, capacity: int = 20_000, seed: int = 0):
        if capacity < 1:
            raise InvalidArgument(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.new = np.empty((capacity, d_new), np.float32)
        self.old = np.empty((capacity, d_old), np.float32)
        self.seen = 0
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return min(self.seen, self.capacity)

    def add(self, new: np.ndarray, old: np.ndarray) -> None:
        new = np.asarray(new, np.float32)
        old = np.asarray(old, np.float32)
        if new.ndim != 2 or old.ndim != 2 or new.shape[0] != old.shape[0]:
            raise InvalidArgument(f"pairs must be (n, d) arrays with the same n, got {new.shape} and {old.shape}")
        if new.shape[1] != self.new.shape[1] or old.shape[1] != self.old.shape[1]:
            raise InvalidArgument(
                f"pairs are {new.shape[1]} -> {old.shape[1]}, the reservoir holds "
                f"{self.new.shape[1]} -> {self.old.shape[1]}"
            )
        with self._lock:
            for i in range(new.shape[0]):
                if self.seen < self.capacity:
                    slot = self.seen
                else:
                    slot = int(self._rng.integers(0, self.seen + 1))
                    if slot >= self.capacity:
                        self.seen += 1
                        continue
                self.new[slot] = new[i]
                self.old[slot] = old[i]
                self.seen += 1

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            n = len(self)
            return self.new[:n].copy(), self.old[:n].copy()

    def fit(self, kind: str = "procrustes", **kwargs: Any) -> DriftMap:
        """Fit a map on the pairs sampled so far (see fit_map for the arguments)."""
        new, old = self.pairs()
        if len(new) == 0:
            raise FailedPrecondition("no re-embedded pairs yet: a map needs rows embedded by both versions")
        return fit_map(kind, new, old, **kwargs)


def reembed(
    batches: Iterable[tuple[np.ndarray, Any, np.ndarray | None]],
    embed: Callable[[Any], np.ndarray],
    write: Callable[[np.ndarray, np.ndarray, MigrationProgress], None],
    *,
    rows_total: int,
    d_new: int,
    resume: MigrationProgress | None = None,
    reservoir: PairReservoir | None = None,
    on_progress: Callable[[MigrationProgress], None] | None = None,
    cancel: threading.Event | None = None,
    progress: bool | None = None,
) -> MigrationProgress:
    """Re-embed every row the engine yields, batch by batch; returns the final progress.

    batches: (row ids, inputs for `embed`, old vectors or None) per batch, in increasing row order, starting after
    `resume.last_row` when resuming. embed(inputs) -> (n, d_new) vectors. write(ids, vectors, progress) stores a
    batch (and `progress` as the checkpoint) in one transaction. Old vectors, when given, feed `reservoir`.
    Errors from embed/write end the run with state "failed" (the error text kept) and are re-raised; a set
    `cancel` ends it with state "cancelled" after the batch in flight.
    """
    from tqdm.auto import tqdm

    now = time.time()
    done0 = resume.rows_done if resume is not None else 0
    state = MigrationProgress(
        state="running",
        rows_done=done0,
        rows_total=rows_total,
        last_row=resume.last_row if resume is not None else None,
        started_at=now,
        updated_at=now,
        pairs_sampled=len(reservoir) if reservoir is not None else 0,
    )
    bar = tqdm(
        total=rows_total, initial=done0, desc="re-embed", unit="row", disable=None if progress is None else not progress
    )
    try:
        for ids, inputs, old in batches:
            if cancel is not None and cancel.is_set():
                state = replace(state, state="cancelled", updated_at=time.time())
                break
            ids = np.asarray(ids)
            vectors = np.asarray(embed(inputs), dtype=np.float32)
            if vectors.shape != (len(ids), d_new):
                raise InvalidArgument(f"embed returned shape {vectors.shape} for {len(ids)} rows of dimension {d_new}")
            if not np.isfinite(vectors).all():
                raise InvalidArgument("embed returned NaN or infinite values")
            t = time.time()
            done = state.rows_done + len(ids)
            rate = (done - done0) / max(t - state.started_at, 1e-9)
            after = replace(
                state,
                rows_done=done,
                last_row=int(ids.max()) if len(ids) else state.last_row,
                updated_at=t,
                rate=rate,
                eta_seconds=max(rows_total - done, 0) / rate if rate > 0 else None,
            )
            if reservoir is not None and old is not None:
                after = replace(after, pairs_sampled=min(reservoir.seen + len(ids), reservoir.capacity))
            write(ids, vectors, after)  # the checkpoint goes in with the batch: counted only once it is durable
            state = after
            if reservoir is not None and old is not None:
                reservoir.add(vectors, old)
            bar.update(len(ids))
            if on_progress is not None:
                on_progress(state)
        else:
            state = replace(state, state="done", updated_at=time.time(), eta_seconds=0.0)
    except Exception as e:
        state = replace(state, state="failed", updated_at=time.time(), error=f"{type(e).__name__}: {e}")
        if on_progress is not None:
            on_progress(state)
        raise
    finally:
        bar.close()
    if on_progress is not None:
        on_progress(state)
    return state
