"""Key and value encodings shared by the tables (all keys big-endian so cursors walk them in order)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

_UID = struct.Struct(">I")
_UID_ROW = struct.Struct(">II")
ROW_VALUE = struct.Struct("<I")
MAX_ROWS = 2**32 - 2


def uid_prefix(uid: int) -> bytes:
    return _UID.pack(uid)


def row_key(uid: int, row: int) -> bytes:
    return _UID_ROW.pack(uid, row)


def row_of_key(key) -> int:
    return _UID_ROW.unpack(bytes(key[:8]))[1]


def row_keys(uid: int, first: int, n: int) -> list[bytes]:
    """row_key(uid, r) for r in [first, first + n), built in one vectorised step."""
    raw = np.empty((n, 2), ">u4")
    raw[:, 0] = uid
    raw[:, 1] = np.arange(first, first + n, dtype=np.uint32)
    buf = raw.tobytes()
    return [buf[i : i + 8] for i in range(0, 8 * n, 8)]


def row_values(first: int, n: int) -> list[bytes]:
    buf = np.arange(first, first + n, dtype="<u4").tobytes()
    return [buf[i : i + 4] for i in range(0, 4 * n, 4)]


def meta_key(uid: int, name: bytes) -> bytes:
    return _UID.pack(uid) + name


@dataclass(frozen=True)
class State:
    """The counters of one collection, rewritten by every write transaction.

    next_row: rows ever allocated (row ids are append-only until compaction); live: points present;
    generation: bumped by every write, so readers know when cached derived data is stale;
    epoch: bumped by compaction, which renumbers rows.
    """

    next_row: int = 0
    live: int = 0
    generation: int = 0
    epoch: int = 0

    _S = struct.Struct("<QQQQ")

    def pack(self) -> bytes:
        return self._S.pack(self.next_row, self.live, self.generation, self.epoch)

    @classmethod
    def unpack(cls, raw) -> State:
        return cls(*cls._S.unpack(bytes(raw)))

    @property
    def dead(self) -> int:
        return self.next_row - self.live
