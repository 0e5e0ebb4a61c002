"""Trained states in LMDB: a JSON meta dict plus named numpy arrays, in one value (codecs, maps, calibrations)."""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import numpy as np

from ..errors import CorruptDatabase

_LEN = struct.Struct("<I")


def encode_state(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.ascontiguousarray(v) for k, v in arrays.items()})
    head = json.dumps(meta).encode()
    return _LEN.pack(len(head)) + head + buf.getvalue()


def decode_state(raw) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    raw = bytes(raw)
    try:
        (n,) = _LEN.unpack(raw[:4])
        meta = json.loads(raw[4 : 4 + n])
        with np.load(io.BytesIO(raw[4 + n :]), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, struct.error, KeyError) as e:
        raise CorruptDatabase(f"a stored state is damaged: {e}") from None
    return meta, arrays


def put_state(txn, db, key: bytes, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    txn.put(key, encode_state(meta, arrays), db=db)


def get_state(txn, db, key: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    raw = txn.get(key, db=db)
    return None if raw is None else decode_state(raw)
