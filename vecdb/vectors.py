"""Coercion and validation of vector inputs at the API boundary (the kernels below assume valid input)."""

from __future__ import annotations

import numpy as np

from .errors import InvalidArgument
from .kernels.queries import ZERO, prepare_rows
from .schema import Dense


def as_matrix(x: object, dim: int, what: str) -> np.ndarray:
    """(n, dim) C-contiguous float32, finite, or a clear InvalidArgument."""
    if isinstance(x, np.ndarray) and x.dtype.kind not in "fiu":
        raise InvalidArgument(f"{what} must hold numbers, got dtype {x.dtype}")
    try:
        arr = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"{what} must be a numeric array: {e}") from None
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise InvalidArgument(f"{what} must be 2-D (n x {dim}), got shape {arr.shape}")
    if arr.shape[1] != dim:
        raise InvalidArgument(f"{what} has dimension {arr.shape[1]}, the field expects {dim}")
    _check_values(arr, what)
    return np.ascontiguousarray(arr)


# Largest magnitude a vector element may have: squares and sums of squares must stay finite in float32 (3.4e38),
# or distances overflow to inf and a search silently returns nothing (l2) or arbitrary rows (cosine).
MAX_ABS = 1e15


def _check_values(arr: np.ndarray, what: str) -> None:
    """NaN, infinity or a magnitude above MAX_ABS -> InvalidArgument naming the first bad row (two passes, no
    temporary: max and min; a NaN makes the comparison fail)."""
    if arr.size == 0 or (arr.max() <= MAX_ABS and -arr.min() <= MAX_ABS):
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise InvalidArgument(f"{what} row {row} contains NaN or infinity")
    row = int(np.argwhere(np.abs(arr) > MAX_ABS)[0][0])
    raise InvalidArgument(f"{what} row {row} has a value beyond +-{MAX_ABS:g} (its square would overflow float32)")


def prepare(field: Dense, x: object, what: str, *, n: int | None = None) -> np.ndarray:
    """Vectors as stored / compared: float32 rows, unit length for cosine fields."""
    arr = as_matrix(x, field.dim, what)
    if n is not None and arr.shape[0] != n:
        raise InvalidArgument(f"{what} has {arr.shape[0]} rows for {n} ids")
    if field.metric == "cosine":
        norms = np.linalg.norm(arr, axis=1)
        zero = norms == 0
        if zero.any():
            raise InvalidArgument(f"{what} row {int(np.argmax(zero))} is a zero vector, which has no cosine")
        arr = arr / norms[:, None].astype(np.float32)
    return np.ascontiguousarray(arr, dtype=np.float32)


def prepare_queries(field: Dense, q: object) -> tuple[np.ndarray, bool]:
    """(queries as a matrix, whether a single 1-D query was given)."""
    if (
        type(q) is np.ndarray and q.dtype == np.float32 and q.ndim in (1, 2) and q.shape[-1] == field.dim and q.size
    ):  # fast path: already what the kernels take (the common case for a server or a loop of queries)
        single = q.ndim == 1
        q2 = q.reshape(1, -1) if single else q
        out = np.empty(q2.shape, np.float32)
        bad = prepare_rows(q2, out, field.metric == "cosine")
        if bad < 0:
            return out, single
        if bad % 4 == ZERO:
            raise InvalidArgument(f"query row {bad // 4} is a zero vector, which has no cosine")
        # NaN, inf or a large sum of squares: the full check names the bad row, or passes large but valid values
    try:
        single = np.ndim(q) == 1
    except ValueError:  # ragged nested lists: prepare() reports them
        single = False
    arr = prepare(field, q, "query")
    if arr.shape[0] == 0:
        raise InvalidArgument("no queries given")
    return arr, single
