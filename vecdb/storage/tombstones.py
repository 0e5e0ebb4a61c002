"""Tombstones: one bit per row, set when the row's point is deleted or superseded by a newer row.

Stored as 8 KiB chunks (65,536 rows each); an absent chunk means no dead row in it, so an append-only
collection with no deletes stores nothing here.
"""

from __future__ import annotations

import struct

import lmdb
import numpy as np

CHUNK_ROWS = 1 << 16
_KEY = struct.Struct(">II")


def _key(uid: int, chunk: int) -> bytes:
    return _KEY.pack(uid, chunk)


def mark_dead(txn: lmdb.Transaction, db, uid: int, rows) -> None:
    rows = np.asarray(rows, dtype=np.int64)
    if not rows.size:
        return
    chunks = rows // CHUNK_ROWS
    for c in np.unique(chunks).tolist():
        key = _key(uid, c)
        buf = txn.get(key, db=db)
        bits = np.unpackbits(np.frombuffer(buf, np.uint8)) if buf is not None else np.zeros(CHUNK_ROWS, np.uint8)
        bits[rows[chunks == c] - c * CHUNK_ROWS] = 1
        txn.put(key, np.packbits(bits).tobytes(), db=db)


def live_mask(txn: lmdb.Transaction, db, uid: int, n_rows: int) -> np.ndarray:
    """uint8 per row, 1 where the row is live."""
    live = np.ones(n_rows, np.uint8)
    with txn.cursor(db=db) as cur:
        prefix = struct.pack(">I", uid)
        if not cur.set_range(_key(uid, 0)):
            return live
        for key, val in cur:
            if bytes(key[:4]) != prefix:
                break
            c = _KEY.unpack(bytes(key))[1]
            start = c * CHUNK_ROWS
            if start >= n_rows:
                break
            dead = np.unpackbits(np.frombuffer(val, np.uint8))[: n_rows - start]
            live[start : start + dead.shape[0]] ^= dead
    return live


def clear(txn: lmdb.Transaction, db, uid: int) -> None:
    from .blocks import delete_prefix

    delete_prefix(txn, db, struct.pack(">I", uid))
