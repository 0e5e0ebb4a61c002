"""User ids: unsigned 64-bit integers or strings, encoded as ordered LMDB keys.

Key form: b"\\x00" + 8-byte big-endian for integers, b"\\x01" + UTF-8 for strings, so a cursor walks integers in
numeric order first, then strings in byte order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Union

import numpy as np

from .errors import InvalidArgument

PointId = Union[int, str]
MAX_ID = 2**64 - 1
MAX_STR_ID_BYTES = 256
_INT = b"\x00"
_STR = b"\x01"


def encode_id(pid: object) -> bytes:
    if isinstance(pid, (bool, np.bool_)):
        raise InvalidArgument(f"bad id {pid!r}: ids are unsigned 64-bit integers or non-empty strings, not booleans")
    if isinstance(pid, (int, np.integer)):
        v = int(pid)
        if not 0 <= v <= MAX_ID:
            raise InvalidArgument(f"bad id {v}: integer ids must be in [0, 2**64 - 1]")
        return _INT + v.to_bytes(8, "big")
    if isinstance(pid, str):
        raw = _utf8(pid)
        if not raw or len(raw) > MAX_STR_ID_BYTES:
            raise InvalidArgument(f"bad id {pid!r}: string ids must be 1-{MAX_STR_ID_BYTES} bytes of UTF-8")
        return _STR + raw
    raise InvalidArgument(f"bad id {pid!r} of type {type(pid).__name__}: use an unsigned integer or a string")


def _utf8(s: str) -> bytes:
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(f"bad id {s!r}: not encodable as UTF-8 (lone surrogate?)") from None


def decode_id(key: bytes) -> PointId:
    key = bytes(key)
    if key[:1] == _INT:
        return int.from_bytes(key[1:9], "big")
    return key[1:].decode("utf-8")


def as_id_list(ids: object, what: str = "ids") -> list:
    """Coerce the ids argument of a call to a list, rejecting a bare scalar or string (a common slip)."""
    if isinstance(ids, (str, bytes, int, np.integer)):
        raise InvalidArgument(f"{what} must be a list or array of ids; wrap a single id in a list: [{ids!r}]")
    if isinstance(ids, np.ndarray):
        if ids.ndim != 1:
            raise InvalidArgument(f"{what} must be one-dimensional, got shape {ids.shape}")
        if ids.dtype.kind in "iu":
            if ids.dtype.kind == "i" and ids.size and ids.min() < 0:
                raise InvalidArgument(f"bad id {int(ids.min())}: integer ids must be in [0, 2**64 - 1]")
            return [int(x) for x in ids.tolist()]
        if ids.dtype.kind not in "UO":
            raise InvalidArgument(f"{what} array has dtype {ids.dtype}: use unsigned integers or strings")
        return ids.tolist()
    if not isinstance(ids, Iterable):
        raise InvalidArgument(f"{what} must be a list or array of ids, got {type(ids).__name__}")
    return list(ids)


def _encode_int_array(ids: np.ndarray) -> list[bytes]:
    """Vectorised encode_id for validated non-negative integer arrays (the common bulk-ingest case)."""
    n = ids.shape[0]
    raw = np.zeros((n, 9), np.uint8)
    raw[:, 1:] = ids.astype(">u8").view(np.uint8).reshape(n, 8)
    buf = raw.tobytes()
    return [buf[i : i + 9] for i in range(0, 9 * n, 9)]


def _int_array(ids: object) -> np.ndarray | None:
    if isinstance(ids, np.ndarray):
        if ids.ndim == 1 and ids.dtype.kind in "iu" and (ids.dtype.kind == "u" or not ids.size or ids.min() >= 0):
            return ids
        return None
    if isinstance(ids, (list, tuple)) and ids and all(type(i) is int for i in ids):
        lo, hi = min(ids), max(ids)
        if 0 <= lo and hi <= MAX_ID:
            return np.array(ids, dtype=np.uint64)
    return None


def encode_ids(ids: object, *, unique: bool) -> list[bytes]:
    arr = _int_array(ids)
    keys = _encode_int_array(arr) if arr is not None else [encode_id(i) for i in as_id_list(ids)]
    if unique and len(set(keys)) != len(keys):
        seen: set[bytes] = set()
        for k in keys:
            if k in seen:
                raise InvalidArgument(f"duplicate id {decode_id(k)!r} in one batch: each id may appear once")
            seen.add(k)
    return keys


STR_SENTINEL = np.uint64(2**64 - 1)


def id_values(keys: list[bytes]) -> np.ndarray:
    """The id column of a batch: the integer of each integer id, STR_SENTINEL for string ids (and for the integer
    2**64-1 itself), which readers then look up in the row -> id table."""
    out = np.full(len(keys), STR_SENTINEL, np.uint64)
    ints = [i for i, k in enumerate(keys) if len(k) == 9 and k[0] == 0]
    if ints:
        raw = np.frombuffer(b"".join(keys[i] for i in ints), np.uint8).reshape(-1, 9)[:, 1:]
        out[ints] = np.ascontiguousarray(raw).view(">u8").ravel().astype(np.uint64)
    return out
