"""Fixed-size blocks of fixed-width rows in LMDB, read back as zero-copy numpy views.

Rows are append-only: a point that changes gets a new row and its old row is tombstoned, so a write touches
only the tail block(s) of each field, and a reader knows exactly which blocks a write can have changed.
Key: uid (4 bytes) + slot (2 bytes: which field / structure) + block number (4 bytes), all big-endian.
The last block may be partial: it stores only its valid rows.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

import lmdb
import numpy as np

from ..errors import CorruptDatabase

TARGET_BLOCK_BYTES = 1 << 20
_KEY = struct.Struct(">IHI")


def block_rows_for(row_bytes: int) -> int:
    """Rows per block: a power of two giving blocks of about 1 MiB (fewer kernel calls, little tail rewrite)."""
    rows = 1
    while rows * 2 * row_bytes <= TARGET_BLOCK_BYTES and rows < 65_536:
        rows *= 2
    return max(rows, 64)


def _addresses(views: list[tuple[int, np.ndarray]]) -> np.ndarray:
    return np.array([v.__array_interface__["data"][0] for _, v in views], np.int64)


@dataclass(frozen=True)
class BlockArray:
    """One column of rows: `width` items of `dtype` per row, `block_rows` rows per LMDB value."""

    uid: int
    slot: int
    dtype: np.dtype
    width: int
    block_rows: int

    @property
    def row_bytes(self) -> int:
        return np.dtype(self.dtype).itemsize * self.width

    def key(self, block: int) -> bytes:
        return _KEY.pack(self.uid, self.slot, block)

    def prefix(self) -> bytes:
        return _KEY.pack(self.uid, self.slot, 0)[:6]

    def _view(self, buf, block: int) -> np.ndarray:
        if len(buf) % self.row_bytes:
            raise CorruptDatabase(f"block {block} of slot {self.slot} has {len(buf)} bytes, not a whole row count")
        return np.frombuffer(buf, dtype=self.dtype).reshape(-1, self.width)

    def views(self, txn: lmdb.Transaction, db, n_rows: int, start: int = 0) -> list[tuple[int, np.ndarray]]:
        """(first_row, array) per block covering rows [start, n_rows) (whole blocks: the first may begin before
        start); arrays are zero-copy when txn has buffers=True and are valid only while txn is open."""
        out = []
        for b in range(start // self.block_rows, (n_rows + self.block_rows - 1) // self.block_rows):
            buf = txn.get(self.key(b), db=db)
            first = b * self.block_rows
            want = min(self.block_rows, n_rows - first)
            if buf is None:
                raise CorruptDatabase(f"block {b} of slot {self.slot} is missing (rows {first}..{first + want})")
            arr = self._view(buf, b)
            if arr.shape[0] < want:
                raise CorruptDatabase(f"block {b} of slot {self.slot} holds {arr.shape[0]} rows, expected {want}")
            out.append((first, arr[:want]))
        return out

    def get_rows(self, txn: lmdb.Transaction, db, rows) -> np.ndarray:
        """Copies of the given rows, in order."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((rows.shape[0], self.width), dtype=self.dtype)
        cache: dict[int, np.ndarray] = {}
        for j, r in enumerate(rows.tolist()):
            b, off = divmod(r, self.block_rows)
            arr = cache.get(b)
            if arr is None:
                buf = txn.get(self.key(b), db=db)
                if buf is None:
                    raise CorruptDatabase(f"block {b} of slot {self.slot} is missing")
                arr = cache[b] = self._view(buf, b)
            out[j] = arr[off]
        return out

    def addresses(self, txn: lmdb.Transaction, db, n_rows: int) -> np.ndarray:
        """int64 addresses, in LMDB's memory map, of the blocks covering rows [0, n_rows) (each checked to hold its
        rows, as views() does): a kernel reads row r at addresses[r // block_rows] + (r % block_rows) * row_bytes.
        Valid while this snapshot is open (txn has buffers=True)."""
        return _addresses(self.views(txn, db, n_rows))

    def write_rows(self, txn: lmdb.Transaction, db, first_row: int, data: np.ndarray) -> None:
        """Write rows [first_row, first_row + len(data)); rows before first_row in its block are kept."""
        data = np.ascontiguousarray(data, dtype=self.dtype).reshape(-1, self.width)
        n = data.shape[0]
        pos = 0
        while pos < n:
            row = first_row + pos
            b, off = divmod(row, self.block_rows)
            take = min(n - pos, self.block_rows - off)
            key = self.key(b)
            if off:
                old = txn.get(key, db=db)
                if old is None or len(old) < off * self.row_bytes:
                    raise CorruptDatabase(f"block {b} of slot {self.slot} is shorter than row {row}")
                head = bytes(old[: off * self.row_bytes])
                tail_start = (off + take) * self.row_bytes
                tail = bytes(old[tail_start:]) if len(old) > tail_start else b""
                value = head + data[pos : pos + take].tobytes() + tail
            else:
                old = txn.get(key, db=db) if take < self.block_rows else None
                tail_start = take * self.row_bytes
                tail = bytes(old[tail_start:]) if old is not None and len(old) > tail_start else b""
                value = data[pos : pos + take].tobytes() + tail
            txn.put(key, value, db=db)
            pos += take

    def truncate(self, txn: lmdb.Transaction, db, n_rows: int) -> None:
        """Drop rows >= n_rows (blocks after the last one, and the tail of the last one)."""
        last_block, rem = divmod(n_rows, self.block_rows)
        if rem:
            buf = txn.get(self.key(last_block), db=db)
            if buf is not None and len(buf) > rem * self.row_bytes:
                txn.put(self.key(last_block), bytes(buf[: rem * self.row_bytes]), db=db)
            last_block += 1
        delete_prefix(txn, db, self.prefix(), start=self.key(last_block))

    def delete_all(self, txn: lmdb.Transaction, db) -> None:
        delete_prefix(txn, db, self.prefix())


def delete_prefix(txn: lmdb.Transaction, db, prefix: bytes, start: bytes | None = None) -> int:
    """Delete every key starting with prefix (and >= start, when given); returns how many."""
    n = 0
    with txn.cursor(db=db) as cur:
        if not cur.set_range(start or prefix):
            return 0
        while bytes(cur.key()[: len(prefix)]) == prefix:
            n += 1
            if not cur.delete():
                break
    return n


class SnapshotBlocks:
    """The zero-copy views of one column's blocks (and their addresses), kept across the read transactions of one
    snapshot.

    Reading a block costs an LMDB get (a 1 MiB block holds ~680 rows of 384-d floats): an exact scan of 5k x 384
    paid ~11 of them, and a rescoring of a few hundred candidates as many, on every search. The views stay right
    while the snapshot is the same and the map has not moved: LMDB never writes a page that a committed snapshot
    reaches while a reader of that snapshot is open (the caller's transaction is one, with the same txn id), and
    pages only move when this process remaps the map (Env.map_generation, which moves under the lock that excludes
    every reader). So: keyed by (txn id, rows, map generation); generation() reads the latter. A caller uses what
    it gets only inside its own read transaction."""

    def __init__(self, column: BlockArray, generation: Callable[[], int]) -> None:
        self.column = column
        self.generation = generation
        self._last: tuple[int, int, int, list, np.ndarray] | None = None

    def _get(self, txn: lmdb.Transaction, db, n_rows: int) -> tuple:
        tid = txn.id()
        map_generation = self.generation()
        last = self._last
        if last is not None and last[0] == tid and last[1] == n_rows and last[2] == map_generation:
            return last
        views = self.column.views(txn, db, n_rows) if n_rows > 0 else []
        last = self._last = (tid, n_rows, map_generation, views, _addresses(views))
        return last

    def views(self, txn: lmdb.Transaction, db, n_rows: int) -> list[tuple[int, np.ndarray]]:
        """BlockArray.views(txn, db, n_rows) of this snapshot."""
        return self._get(txn, db, n_rows)[3]

    def addresses(self, txn: lmdb.Transaction, db, n_rows: int) -> np.ndarray:
        """BlockArray.addresses(txn, db, n_rows) of this snapshot."""
        return self._get(txn, db, n_rows)[4]
