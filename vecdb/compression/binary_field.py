"""Input coercion for Binary fields (binary embeddings given directly) and their queries."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgument
from ..kernels import binary


def prepare_binary(field, x: object, what: str, *, n: int | None = None) -> np.ndarray:
    """(n, words) uint64 codes from packed uint8 bytes (np.packbits order, (n, ceil(bits / 8))), packed uint64
    words ((n, ceil(bits / 64)), bits beyond `bits` zero) or a 0/1 array (n, bits); anything else is an error
    naming the widths the field accepts."""
    bits = field.bits
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.dtype.kind not in "biuf":
        raise InvalidArgument(f"{what} must be a 2-D array of bits or packed bits, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise InvalidArgument(f"{what} has {arr.shape[0]} rows for {n} ids")
    width = arr.shape[1]
    if width == bits and (arr.dtype == np.bool_ or np.isin(arr, (0, 1)).all()):
        out = binary.pack_bits(arr)
    elif arr.dtype == np.uint8 and width == (bits + 7) // 8:
        out = binary.from_packed_bytes(arr, bits)
    elif arr.dtype == np.uint64 and width == field.words:
        out = np.ascontiguousarray(arr)
        if bits % 64 and (out[:, -1] >> np.uint64(bits % 64)).any():
            raise InvalidArgument(f"{what} sets bits beyond the field's {bits} bits (wrong bit width?)")
    else:
        raise InvalidArgument(
            f"{what} does not fit a {bits}-bit binary field: give (n, {bits}) 0/1 values, (n, {(bits + 7) // 8}) "
            f"packed uint8 or (n, {field.words}) uint64 words, got {_kind(arr)} of shape {arr.shape}"
        )
    return np.ascontiguousarray(out, dtype=np.uint64)


def _kind(arr: np.ndarray) -> str:
    # Names only the dtypes that decide the reading (a client may carry other numbers as float64 on the wire).
    return f"{arr.dtype} words" if arr.dtype in (np.uint8, np.uint64) else "other numbers"
