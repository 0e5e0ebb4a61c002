"""Coercion and validation of vector inputs at the API boundary (the kernels below assume valid input)."""

from __future__ import annotations

import math

import numpy as np

from .errors import InvalidArgument
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
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise InvalidArgument(f"{what} row {row} contains NaN or infinity")
    return np.ascontiguousarray(arr)


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
    if type(q) is np.ndarray and q.dtype == np.float32 and q.ndim == 1 and q.shape[0] == field.dim:
        # fastest path, one query (a loop of searches): one dot product checks finiteness (a NaN or inf element
        # makes it non-finite) and gives the norm; the full check runs only when it is not finite
        n2 = float(np.dot(q, q))
        if math.isfinite(n2) and n2 > 0.0:
            q2 = q.reshape(1, -1)
            if field.metric == "cosine":
                q2 = q2 * np.float32(1.0 / math.sqrt(n2))
            return np.ascontiguousarray(q2), True
    if (
        type(q) is np.ndarray
        and q.dtype == np.float32
        and q.ndim in (1, 2)
        and q.shape[-1] == field.dim
        and q.size
        and np.isfinite(q).all()
    ):  # fast path: already what the kernels take (the common case for a server or a loop of queries)
        single = q.ndim == 1
        q2 = q.reshape(1, -1) if single else q
        if field.metric == "cosine":
            norms = np.sqrt(np.einsum("ij,ij->i", q2, q2))
            if (norms == 0).any():
                raise InvalidArgument(f"query row {int(np.argmax(norms == 0))} is a zero vector, which has no cosine")
            q2 = q2 / norms[:, None]
        return np.ascontiguousarray(q2), single
    try:
        single = np.ndim(q) == 1
    except ValueError:  # ragged nested lists: prepare() reports them
        single = False
    arr = prepare(field, q, "query")
    if arr.shape[0] == 0:
        raise InvalidArgument("no queries given")
    return arr, single
