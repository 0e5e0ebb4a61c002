"""The payload index: what filters are evaluated on, written in the same transaction as the rows.

- single-valued fields are append-only columns in row blocks, like vectors:
  keyword -> uint32 dictionary ids (0 = missing); boolean -> uint8 (0 missing, 1 false, 2 true);
  integer / datetime -> int64 plus a uint8 presence column; float -> float64 with NaN for missing.
  A leaf filter is then one vectorised comparison over a cached column (about a millisecond per million rows),
  and the filter's cardinality is exact.
- keyword_set fields: per tag (dictionary-encoded), Roaring-style containers of the rows holding it, one LMDB
  value per 65,536-row chunk (sorted uint16 offsets, or a bitmap once dense). A uint8 column marks non-empty sets.
Deleted rows stay in the index: search masks are always ANDed with the tombstone mask. Compaction renumbers.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import numpy as np

from .schema import PayloadType
from .storage.blocks import BlockArray, block_rows_for, delete_prefix

COLUMN_SLOT_BASE = 500  # payload columns use block slots 500 + 2 * field_no (+1: presence)
CHUNK = 1 << 16
_ARRAY, _BITMAP = 0, 1
_DENSE_AT = 4096  # containers with more rows than this are stored as 8 KiB bitmaps
_U32 = struct.Struct(">I")


def _value_key(value: str) -> bytes:
    raw = value.encode("utf-8")
    return raw if len(raw) <= 400 else b"#" + hashlib.sha256(raw).digest()  # LMDB keys stop at 511 bytes


@dataclass
class FieldColumns:
    name: str
    no: int
    type: PayloadType
    values: BlockArray | None  # the column (None for keyword_set)
    present: BlockArray | None  # presence (integer, datetime, keyword_set)


class PayloadIndex:
    def __init__(self, uid: int, declared: dict[str, PayloadType]) -> None:
        self.uid = uid
        self._p = struct.pack(">I", uid)
        self.fields: dict[str, FieldColumns] = {}
        for no, (name, t) in enumerate(declared.items()):
            slot = COLUMN_SLOT_BASE + 2 * no
            values = present = None
            if t is PayloadType.KEYWORD:
                values = BlockArray(uid, slot, np.dtype(np.uint32), 1, block_rows_for(4))
            elif t is PayloadType.BOOLEAN:
                values = BlockArray(uid, slot, np.dtype(np.uint8), 1, block_rows_for(1))
            elif t in (PayloadType.INTEGER, PayloadType.DATETIME):
                values = BlockArray(uid, slot, np.dtype(np.int64), 1, block_rows_for(8))
                present = BlockArray(uid, slot + 1, np.dtype(np.uint8), 1, block_rows_for(1))
            elif t is PayloadType.FLOAT:
                values = BlockArray(uid, slot, np.dtype(np.float64), 1, block_rows_for(8))
            elif t is PayloadType.KEYWORD_SET:
                present = BlockArray(uid, slot + 1, np.dtype(np.uint8), 1, block_rows_for(1))
            self.fields[name] = FieldColumns(name, no, t, values, present)

    # ------------------------------------------------------------------ keys
    def _dict_key(self, f: FieldColumns, value: str) -> bytes:
        return self._p + b"D" + bytes([f.no]) + _value_key(value)

    def _dict_counter(self, f: FieldColumns) -> bytes:
        return self._p + b"d" + bytes([f.no])

    def _posting_prefix(self, f: FieldColumns, tag: int) -> bytes:
        return self._p + b"S" + bytes([f.no]) + _U32.pack(tag)

    def columns(self) -> list[BlockArray]:
        return [c for f in self.fields.values() for c in (f.values, f.present) if c is not None]

    # ------------------------------------------------------------------ dictionary
    def lookup(self, txn, aux, field: str, value: str) -> int:
        """The dictionary id of a keyword (or tag) value, 0 when no row ever had it."""
        raw = txn.get(self._dict_key(self.fields[field], value), db=aux)
        return _U32.unpack(bytes(raw))[0] if raw is not None else 0

    def _ids_for(self, txn, aux, f: FieldColumns, values: set[str]) -> dict[str, int]:
        """Dictionary ids, assigning new ones (from 1) to values seen for the first time."""
        if not values:
            return {}
        ordered = sorted(values)
        keys = [self._dict_key(f, v) for v in ordered]
        with txn.cursor(db=aux) as cur:
            found = {bytes(k): _U32.unpack(bytes(v))[0] for k, v in cur.getmulti(keys)}
        out, new = {}, []
        raw = txn.get(self._dict_counter(f), db=aux)
        nxt = _U32.unpack(bytes(raw))[0] if raw is not None else 1
        for v, k in zip(ordered, keys):
            if k in found:
                out[v] = found[k]
            else:
                out[v] = nxt
                new.append((k, _U32.pack(nxt)))
                nxt += 1
        if new:
            with txn.cursor(db=aux) as cur:
                cur.putmulti(new)
            txn.put(self._dict_counter(f), _U32.pack(nxt), db=aux)
        return out

    # ------------------------------------------------------------------ writes
    def append(self, txn, aux, blocks, first_row: int, payloads: list[dict]) -> None:
        """Index the payloads of rows [first_row, first_row + len(payloads)) (already validated/normalised)."""
        for name, f in self.fields.items():
            vals = [p.get(name) if p else None for p in payloads]
            t = f.type
            if t is PayloadType.KEYWORD:
                ids = self._ids_for(txn, aux, f, {v for v in vals if v is not None})
                col = np.array([ids[v] if v is not None else 0 for v in vals], np.uint32)
                f.values.write_rows(txn, blocks, first_row, col)
            elif t is PayloadType.BOOLEAN:
                col = np.array([0 if v is None else 2 if v else 1 for v in vals], np.uint8)
                f.values.write_rows(txn, blocks, first_row, col)
            elif t in (PayloadType.INTEGER, PayloadType.DATETIME):
                present = np.array([v is not None for v in vals], np.uint8)
                col = np.array([v if v is not None else 0 for v in vals], np.int64)
                f.values.write_rows(txn, blocks, first_row, col)
                f.present.write_rows(txn, blocks, first_row, present)
            elif t is PayloadType.FLOAT:
                col = np.array([v if v is not None else np.nan for v in vals], np.float64)
                f.values.write_rows(txn, blocks, first_row, col)
            elif t is PayloadType.KEYWORD_SET:
                present = np.array([bool(v) for v in vals], np.uint8)
                f.present.write_rows(txn, blocks, first_row, present)
                ids = self._ids_for(txn, aux, f, {tag for v in vals if v for tag in v})
                rows_by_tag: dict[int, list[int]] = {}
                for j, v in enumerate(vals):
                    for tag in v or ():
                        rows_by_tag.setdefault(ids[tag], []).append(first_row + j)
                for tag, rows in rows_by_tag.items():
                    self._add_postings(txn, aux, f, tag, np.asarray(rows, np.int64))

    def _add_postings(self, txn, aux, f: FieldColumns, tag: int, rows: np.ndarray) -> None:
        prefix = self._posting_prefix(f, tag)
        chunks = rows // CHUNK
        for c in np.unique(chunks).tolist():
            key = prefix + _U32.pack(c)
            offsets = (rows[chunks == c] - c * CHUNK).astype(np.uint16)
            old = txn.get(key, db=aux)
            if old is not None:
                offsets = np.union1d(_decode_container(old), offsets).astype(np.uint16)
            txn.put(key, _encode_container(offsets), db=aux)

    # ------------------------------------------------------------------ reads
    def postings_mask(self, txn, aux, field: str, tag: int, n_rows: int) -> np.ndarray:
        """bool mask over rows [0, n_rows) of the rows whose set holds dictionary id `tag`."""
        mask = np.zeros(n_rows, bool)
        if tag == 0:
            return mask
        prefix = self._posting_prefix(self.fields[field], tag)
        with txn.cursor(db=aux) as cur:
            if not cur.set_range(prefix):
                return mask
            for key, val in cur:
                key = bytes(key)
                if not key.startswith(prefix):
                    break
                base = _U32.unpack(key[-4:])[0] * CHUNK
                rows = base + _decode_container(val).astype(np.int64)
                mask[rows[rows < n_rows]] = True
        return mask

    # ------------------------------------------------------------------ compaction
    def compact(self, txn, aux, blocks, keep: np.ndarray, column_rows) -> None:
        """Renumber to the kept rows: columns are taken from column_rows(column) (all rows, in memory) and
        rewritten; postings are remapped container by container."""
        for col in self.columns():
            kept = np.ascontiguousarray(column_rows(col)[keep])
            col.write_rows(txn, blocks, 0, kept)
            col.truncate(txn, blocks, kept.shape[0])
        new_row = np.full(int(keep[-1]) + 1 if keep.size else 0, -1, np.int64)
        new_row[keep] = np.arange(keep.size)
        for f in self.fields.values():
            if f.type is not PayloadType.KEYWORD_SET:
                continue
            prefix = self._p + b"S" + bytes([f.no])
            tags: dict[bytes, list[np.ndarray]] = {}
            with txn.cursor(db=aux) as cur:
                if cur.set_range(prefix):
                    for key, val in cur:
                        key = bytes(key)
                        if not key.startswith(prefix):
                            break
                        old = _U32.unpack(key[-4:])[0] * CHUNK + _decode_container(val).astype(np.int64)
                        old = old[old < new_row.size]
                        mapped = new_row[old]
                        tags.setdefault(key[:-4], []).append(mapped[mapped >= 0])
            delete_prefix(txn, aux, prefix)
            for tag_prefix, parts in tags.items():
                rows = np.concatenate(parts)
                chunks = rows // CHUNK
                for c in np.unique(chunks).tolist():
                    offsets = np.sort(rows[chunks == c] - c * CHUNK).astype(np.uint16)
                    txn.put(tag_prefix + _U32.pack(c), _encode_container(offsets), db=aux)

    def clear_all(self, txn, aux) -> None:
        for kind in (b"D", b"d", b"S"):
            delete_prefix(txn, aux, self._p + kind)


def _encode_container(offsets: np.ndarray) -> bytes:
    if offsets.size > _DENSE_AT:
        bits = np.zeros(CHUNK, np.uint8)
        bits[offsets] = 1
        return bytes([_BITMAP]) + np.packbits(bits).tobytes()
    return bytes([_ARRAY]) + offsets.astype("<u2").tobytes()


def _decode_container(raw) -> np.ndarray:
    raw = bytes(raw)
    if raw[0] == _BITMAP:
        return np.flatnonzero(np.unpackbits(np.frombuffer(raw, np.uint8, offset=1))).astype(np.uint16)
    return np.frombuffer(raw, "<u2", offset=1).astype(np.uint16)
