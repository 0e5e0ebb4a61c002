"""A compressed dense field inside a collection: codes in LMDB row blocks beside the float vectors, the codec's
state and oversampling calibration in the aux table, training, search on codes with exact rescoring.

Storage (all inside the collection's write transactions):
- codes: a BlockArray at block slot CODE_SLOT_BASE + field slot, one row per vector row (dead rows included, so
  row numbers line up with the float column and the tombstones mask them like any row); read as zero-copy views;
- the codec state: aux uid + b"Z" + slot -> encode_state(meta, arrays); its small header (fit token, code shape,
  calibration) at aux uid + b"z" + slot, so a search checks the header and reuses the decoded codec it cached for
  that token instead of decoding the arrays every time.
Training happens in the upsert that brings the live rows to train_rows(spec) (or in Collection.train_compression):
the codec is fitted on a seeded sample of live rows, every row is encoded, and the oversampling calibration is
measured on the collection's own vectors, all in that one transaction. Until then searches take the float path.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from ..kernels.rescore import rescore_in_blocks
from ..storage import tombstones
from ..storage.blocks import BlockArray, block_rows_for
from ..storage.parsed import ParsedCache
from ..storage.states import get_state, put_state
from .base import Codec, CompressionSpec, codec_from_state, sample_rows
from .rescore import DEFAULT_FACTORS, candidates_for, oversampling_for
from .sign import PREFILTER, SignBinary

CODE_SLOT_BASE = 4000  # block slots of code columns (vector fields use 0.., ids 900, graphs 1000.., FDEs 3000..)
DEFAULT_TRAIN_ROWS = 20_000
DEFAULT_RECALL_TARGET = 0.95
CALIBRATION_ROWS = 20_000  # rows the oversampling calibration searches (a seeded sample of live rows)
CALIBRATION_QUERIES = 200
ENCODE_CHUNK = 65_536


def spec_for_field(value: object, dim: int) -> CompressionSpec:
    """A field's compression as a spec (from a spec, a kind string like "pq:48", or a dict), checked against the
    field's dimension so a bad combination fails at schema time, not at training time."""
    from .report import parse_spec

    if isinstance(value, str):
        spec = parse_spec(value)
    elif isinstance(value, Mapping):
        spec = CompressionSpec.from_dict(dict(value))
    elif isinstance(value, CompressionSpec):
        spec = value
    else:
        raise InvalidArgument(f"compression must be a CompressionSpec, a kind string or a dict, got {value!r}")
    kind = spec.kind
    if kind == "pq" and dim % spec.m:
        raise InvalidArgument(f"PQ m={spec.m} does not divide the field dimension {dim}")
    if kind == "matryoshka" and spec.dims > dim:
        raise InvalidArgument(f"matryoshka keeps {spec.dims} leading dimensions of a {dim}-d field")
    if kind == "sign" and spec.projection == "none" and spec.bits not in (None, dim):
        raise InvalidArgument(
            f"sign bits={spec.bits} without projection must equal the dimension {dim} (use projection='random')"
        )
    return spec


def train_rows(spec: CompressionSpec) -> int:
    """Live rows that trigger training on upsert: the spec's train_size, at most DEFAULT_TRAIN_ROWS."""
    return min(int(getattr(spec, "train_size", DEFAULT_TRAIN_ROWS)), DEFAULT_TRAIN_ROWS)


@dataclass
class Trained:
    """A fitted codec as stored: the codec, its code column and the measured oversampling calibration."""

    token: str
    codec: Codec
    column: BlockArray
    header: dict[str, Any]

    def oversample(self, recall_target: float | None) -> float:
        """The smallest calibrated factor whose rescored recall@k reached the target (the largest tried when
        none did)."""
        target = DEFAULT_RECALL_TARGET if recall_target is None else recall_target
        by = self.header.get("calibration", {}).get("recall_by_factor", {})
        for f in sorted(by, key=float):
            if by[f] >= target:
                return float(f)
        return float(max(by, key=float)) if by else float(DEFAULT_FACTORS[-1])


def codes_plan(
    t: Trained, k: int, n_allowed: int, do_rescore: bool, oversample: float | None, recall_target: float | None
) -> tuple[int, dict[str, Any]]:
    """(code candidates, explain) of a search on t's codes over n_allowed rows: k * the oversampling factor (given, or
    calibrated for recall_target) when rescoring, else k. CompressedField.search and the single-query path
    (compression/fast.py) both plan through it."""
    factor = (oversample if oversample is not None else t.oversample(recall_target)) if do_rescore else 1.0
    n_cand = min(candidates_for(k, factor), max(n_allowed, 1)) if do_rescore else k
    explain = {
        "path": "codes+rescore" if do_rescore else "codes",
        "codec": t.codec.spec.kind,
        "codes_scanned": n_allowed,
        "rows_rescored": int(n_cand) if do_rescore else 0,
        "oversample": float(factor),
    }
    if isinstance(t.codec.spec, SignBinary) and t.codec.spec.scoring == "hamming+asymmetric":
        explain["hamming_candidates"] = min(PREFILTER * n_cand, n_allowed)
    if isinstance(t.codec.spec, SignBinary) and t.codec.spec.lists is not None:
        # codes_scanned stays the allowed rows considered; only those in the probed lists are scored (all of them
        # where those lists hold fewer allowed rows than the candidates asked for)
        explain["lists"] = t.codec.spec.lists
        explain["lists_probed"] = t.codec.spec.probed
    return n_cand, explain


class CompressedField:
    def __init__(self, uid: int, slot: int, name: str, spec: CompressionSpec, metric: str) -> None:
        self.uid, self.slot, self.name, self.spec, self.metric = uid, slot, name, spec, metric
        p, s = uid.to_bytes(4, "big"), slot.to_bytes(2, "big")
        self._state_key = p + b"Z" + s
        self._head_key = p + b"z" + s
        self._cache: Trained | None = None
        self._head_cache = ParsedCache(json.loads)  # read-only: compression_info hands out copies
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reading the trained codec
    def header(self, txn, aux) -> dict[str, Any] | None:
        """The trained codec's header (read by every search: parsed once per version, callers must not mutate)."""
        raw = txn.get(self._head_key, db=aux)
        return None if raw is None else self._head_cache.get(raw)

    def trained(self, txn, aux) -> Trained | None:
        head = self.header(txn, aux)
        if head is None:
            return None
        cached = self._cache
        if cached is not None and cached.token == head["token"]:
            return cached
        meta, arrays = get_state(txn, aux, self._state_key)
        t = Trained(head["token"], codec_from_state(meta, arrays), self._column(head), head)
        with self._lock:  # tokens are unique per fit, so a token names one committed codec for good
            self._cache = t
        return t

    def _column(self, head: dict[str, Any]) -> BlockArray:
        return BlockArray(
            self.uid, CODE_SLOT_BASE + self.slot, np.dtype(head["dtype"]), int(head["width"]), int(head["block_rows"])
        )

    # ------------------------------------------------------------------ writing (inside write transactions)
    def append(self, txn, aux, blocks, first_row: int, x: np.ndarray) -> None:
        """Encode rows [first_row, first_row + len(x)) with the trained codec (nothing to do before training)."""
        head = self.header(txn, aux)
        if head is None:
            return
        t = self.trained(txn, aux)
        t.column.write_rows(txn, blocks, first_row, t.codec.encode(x))

    def needs_training(self, txn, aux, live: int) -> bool:
        return live >= train_rows(self.spec) and self.header(txn, aux) is None

    def train(
        self,
        txn,
        tables,
        x: np.ndarray,
        n_rows: int,
        *,
        sample: int | None,
        seed: int,
        progress: bool | None,
        queries: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """Fit on a seeded sample of live rows of x (the field's float rows [0, n_rows)), encode every row, calibrate
        the oversampling (on `queries` when given, else on held-out stored vectors), and store it all; returns the
        header."""
        aux, blocks = tables["aux"], tables["block"]
        live = np.flatnonzero(tombstones.live_mask(txn, tables["tomb"], self.uid, n_rows))
        if live.size < 2:
            raise InvalidArgument(f"field {self.name!r} needs at least 2 points to train its {self.spec.kind} codec")
        size = train_rows(self.spec) if sample is None else sample
        fit_rows = live[sample_rows(live.size, size, seed)]
        codec = self.spec.make_codec()
        codec.fit(x[fit_rows], metric=self.metric, seed=seed, progress=progress)
        old = self.header(txn, aux)
        if old is not None:
            self._column(old).delete_all(txn, blocks)
        column = BlockArray(
            self.uid,
            CODE_SLOT_BASE + self.slot,
            np.dtype(codec.code_dtype),
            codec.code_width,
            block_rows_for(int(codec.bytes_per_vector)),
        )
        codes = np.empty((n_rows, codec.code_width), codec.code_dtype)
        for s in range(0, n_rows, ENCODE_CHUNK):
            codes[s : s + ENCODE_CHUNK] = codec.encode(x[s : min(s + ENCODE_CHUNK, n_rows)])
        column.write_rows(txn, blocks, 0, codes)
        cal_rows = live[sample_rows(live.size, CALIBRATION_ROWS, seed + 1)]
        cal = oversampling_for(
            DEFAULT_RECALL_TARGET,
            codec,
            x[cal_rows],
            codes=codes[cal_rows],
            queries=queries,
            k=10,
            sample=CALIBRATION_QUERIES,
            seed=seed + 1,
        )
        head = {
            "token": os.urandom(8).hex(),
            "dtype": np.dtype(codec.code_dtype).str,
            "width": codec.code_width,
            "block_rows": column.block_rows,
            "bytes_per_vector": codec.bytes_per_vector,
            "trained_on": int(fit_rows.size),
            "seed": seed,
            "calibrated_on": "stored vectors" if queries is None else "queries",
            "calibration": cal.to_dict(),
        }
        put_state(txn, aux, self._state_key, *codec.state())
        txn.put(self._head_key, json.dumps(head).encode(), db=aux)
        return head

    def compact(self, txn, aux, blocks, keep: np.ndarray, old_rows: int) -> None:
        """Renumber the codes to `keep` (ascending old rows), as the float column is."""
        head = self.header(txn, aux)
        if head is None:
            return
        column = self._column(head)
        codes = np.empty((old_rows, column.width), column.dtype)
        for first, view in column.views(txn, blocks, old_rows):
            codes[first : first + view.shape[0]] = view
        column.write_rows(txn, blocks, 0, np.ascontiguousarray(codes[keep]))
        column.truncate(txn, blocks, int(keep.size))

    def clear(self, txn, aux, blocks) -> None:
        head = self.header(txn, aux)
        if head is not None:
            self._column(head).delete_all(txn, blocks)
        txn.delete(self._head_key, db=aux)
        txn.delete(self._state_key, db=aux)

    # ------------------------------------------------------------------ search
    def search(
        self,
        t: Trained,
        txn,
        blocks,
        float_addrs: np.ndarray,
        float_block_rows: int,
        n_rows: int,
        q: np.ndarray,
        k: int,
        allowed: np.ndarray,
        n_allowed: int,
        *,
        do_rescore: bool,
        oversample: float | None,
        recall_target: float | None,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Fused top-k over the code blocks (disallowed rows skipped) for k * oversample candidates, then exact
        rescoring with the float vectors, read in place from the float column's blocks (float_addrs: their addresses
        in this snapshot, float_block_rows rows each). Returns (dist, rows, explain); without rescoring the distances
        are the codec's own (smaller is better)."""
        n_cand, explain = codes_plan(t, k, n_allowed, do_rescore, oversample, recall_target)
        code_blocks = t.column.views(txn, blocks, n_rows)
        cdist, crows = t.codec.scan_topk(t.codec.prepare(q), code_blocks, allowed, n_cand)
        if not do_rescore:
            return cdist, crows, explain
        cand = np.ascontiguousarray(crows, dtype=np.int64)
        dist, rows = rescore_in_blocks(q, cand, float_addrs, float_block_rows, self.metric, k)
        return dist, rows, explain
