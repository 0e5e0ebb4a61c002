"""Key and value encodings shared by the tables (all keys big-endian so cursors walk them in order)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

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
