"""A MultiVector field inside a collection: token chunks in LMDB, its FDE as a hidden dense field, search.

Storage (all in the write transaction of the upsert):
- token codes: one LMDB value per chunk of consecutive rows (an upsert batch, split at CHUNK_BYTES), holding a
  16-byte header, the per-document token offsets, the codes and their side values; read back as zero-copy views
  and handed to the MaxSim kernels as blocks;
- the token codec (int8 scales, residual centroids): trained on the first batch, stored once;
- each document's FDE: a hidden dense field `<name>#fde` of the same collection (blocks, vector cache, optional
  HNSW graph, filters and tombstones all come with it);
- the calibration of the candidate count (pseudo-queries), stored on demand.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from ..errors import FailedPrecondition, InvalidArgument
from ..kernels import maxsim
from ..params import SearchParams
from ..storage.blocks import delete_prefix
from ..storage.states import get_state, put_state
from .codecs import TokenCodec
from .fde import encode_flat
from .reduce import ball_carve
from .search import Calibration
from .tokens import as_token_sets, normalize_tokens

CHUNK_BYTES = 1 << 20
DEFAULT_CANDIDATES = 100
_HEAD = struct.Struct("<IIII")  # n_docs, n_tokens, data width (items per token), aux kind (0 none, 1 f32, 2 u16)
_AUX_DTYPE = {0: None, 1: np.float32, 2: np.uint16}


@dataclass
class PreparedTokens:
    flat: np.ndarray  # (T, dim) float32, validated (normalised when the field says so)
    offsets: np.ndarray  # (n + 1,) int64
    fde: np.ndarray  # (n, fde_dim) float32


class MultiVectorField:
    def __init__(self, uid: int, slot: int, name: str, field) -> None:
        self.name = name
        self.field = field
        p = struct.pack(">I", uid)
        s = struct.pack(">H", slot)
        self._chunk_prefix = p + b"T" + s
        self._codec_key = p + b"C" + s
        self._calib_key = p + b"K" + s
        self._codec: TokenCodec | None = None

    # ------------------------------------------------------------------ preparing (outside the transaction)
    def prepare(self, docs: object, n: int) -> PreparedTokens:
        if isinstance(docs, np.ndarray) and docs.ndim == 3:
            docs = list(docs)
        if not isinstance(docs, (list, tuple)):
            raise InvalidArgument(
                f"multi-vector field {self.name!r} takes a list of (n_tokens, {self.field.dim}) arrays, one per id"
            )
        if len(docs) != n:
            raise InvalidArgument(f"multi-vector field {self.name!r} has {len(docs)} token sets for {n} ids")
        flat, offsets = as_token_sets(docs, self.field.dim, f"{self.name} document")
        if self.field.normalize and flat.shape[0]:
            flat = normalize_tokens(flat, offsets, f"{self.name} document")
        fde = encode_flat(self.field.fde, flat, offsets, document=True)
        return PreparedTokens(flat, offsets, np.ascontiguousarray(fde, np.float32))

    def prepare_query(self, q: object) -> np.ndarray:
        flat, offsets = as_token_sets([q], self.field.dim, "query")
        if self.field.normalize:
            flat = normalize_tokens(flat, offsets, "query")
        return flat

    # ------------------------------------------------------------------ codec
    def codec(self, txn, aux) -> TokenCodec | None:
        if self._codec is None:
            state = get_state(txn, aux, self._codec_key)
            if state is not None:
                self._codec = TokenCodec.from_state(*state)
        return self._codec

    def _codec_for_write(self, txn, aux, sample: np.ndarray) -> TokenCodec:
        codec = self.codec(txn, aux)
        if codec is None:
            codec = TokenCodec.fit(self.field.compression, self.field.dim, sample)
            put_state(txn, aux, self._codec_key, *codec.state())
            self._codec = codec
        return codec

    # ------------------------------------------------------------------ writing (inside the transaction)
    def write(self, txn, aux, first_row: int, prep: PreparedTokens) -> None:
        codec = self._codec_for_write(txn, aux, prep.flat)
        data, side = codec.encode(prep.flat)
        self._put_chunks(txn, aux, first_row, prep.offsets, data, side)

    def _put_chunks(self, txn, aux, first_row: int, offsets, data, side) -> None:
        n = offsets.shape[0] - 1
        per_token = max(data[:1].nbytes, 1)
        start = 0
        while start < n:
            # as many documents as fit in CHUNK_BYTES (at least one)
            limit = offsets[start] + max(CHUNK_BYTES // per_token, 1)
            stop = min(max(int(np.searchsorted(offsets, limit, side="right")) - 1, start + 1), n)
            t0, t1 = int(offsets[start]), int(offsets[stop])
            self._put_chunk(
                txn,
                aux,
                first_row + start,
                offsets[start : stop + 1] - t0,
                data[t0:t1],
                None if side is None else side[t0:t1],
            )
            start = stop

    def _put_chunk(self, txn, aux, first_row: int, offsets, data, side) -> None:
        kind = 0 if side is None else (1 if side.dtype == np.float32 else 2)
        width = data.shape[1] if data.ndim == 2 else 1
        head = _HEAD.pack(offsets.shape[0] - 1, data.shape[0], width, kind)
        parts = [head, np.ascontiguousarray(offsets, "<i8").tobytes(), np.ascontiguousarray(data).tobytes()]
        if side is not None:
            parts.append(np.ascontiguousarray(side, _AUX_DTYPE[kind]).tobytes())
        txn.put(self._chunk_prefix + struct.pack(">I", first_row), b"".join(parts), db=aux)

    # ------------------------------------------------------------------ reading
    def blocks(self, txn, aux, codes: maxsim.Codes, rows: np.ndarray | None = None) -> list[maxsim.Block]:
        """Zero-copy blocks of every chunk, or only of the chunks holding `rows` (valid while txn is open).

        Reading a value costs time linear in its size even zero-copy (py-lmdb touches every page of a large value
        before handing it over, so that page faults happen without the GIL held): a re-rank of 100 candidates must
        not read every chunk, so it seeks to the chunk of each candidate (chunks are small, CHUNK_BYTES)."""
        dtype = {"float32": np.float32, "int8": np.int8, "binary": np.uint8, "residual": np.uint8}[codes.kind]
        prefix = self._chunk_prefix
        out = []
        with txn.cursor(db=aux) as cur:
            if not cur.set_range(prefix):
                return out
            if rows is None:
                for key, val in cur:
                    if bytes(key[: len(prefix)]) != prefix:
                        break
                    out.append(_block(struct.unpack(">I", bytes(key[-4:]))[0], val, dtype))
            else:
                end = -1  # rows below `end` are in the block read last
                for row in np.unique(np.asarray(rows, np.int64)).tolist():
                    if row < end:
                        continue
                    # the chunk holding `row` is the last one whose first row is <= row
                    if not cur.set_range(prefix + struct.pack(">I", row + 1)):
                        cur.last()
                    else:
                        cur.prev()
                    key = bytes(cur.key())
                    if key[: len(prefix)] != prefix:
                        continue  # before the first chunk: not stored (the kernels report it)
                    block = _block(struct.unpack(">I", key[-4:])[0], cur.value(), dtype)
                    out.append(block)
                    end = block.first_doc + block.offsets.shape[0] - 1
        return maxsim.check_blocks(codes, out)

    def doc_tokens(self, txn, aux, rows: list[int]) -> list[np.ndarray]:
        """Decoded token sets of the given rows (approximate when compressed)."""
        codec = self.codec(txn, aux)
        blocks = self.blocks(txn, aux, codec.codes, rows=np.asarray(rows, np.int64))
        firsts = np.array([b.first_doc for b in blocks])
        out = []
        for r in rows:
            b = blocks[int(np.searchsorted(firsts, r, side="right")) - 1]
            i = r - b.first_doc
            t0, t1 = int(b.offsets[i]), int(b.offsets[i + 1])
            out.append(codec.decode(np.array(b.data[t0:t1]), None if b.aux is None else np.array(b.aux[t0:t1])))
        return out

    # ------------------------------------------------------------------ search
    def calibration(self, txn, aux) -> tuple[Calibration | None, int | None]:
        state = get_state(txn, aux, self._calib_key)
        if state is None:
            return None, None
        meta, _ = state
        return Calibration.from_dict(meta["calibration"]), meta.get("default_candidates")

    def candidate_count(self, txn, aux, params: SearchParams, k: int) -> int:
        if params.candidates is not None:
            return max(params.candidates, k)
        cal, default = self.calibration(txn, aux)
        if params.recall_target is not None:
            if cal is None:
                raise FailedPrecondition(
                    f"recall_target needs a calibration of field {self.name!r}: call "
                    f"collection.calibrate({self.name!r}) first"
                )
            return max(math.ceil(cal.candidates_for(params.recall_target) * max(1.0, k / cal.k)), k)
        if default is not None:
            return max(math.ceil(default * max(1.0, k / cal.k)), k)
        return max(DEFAULT_CANDIDATES, 10 * k)

    def query_fde(self, q: np.ndarray) -> np.ndarray:
        return encode_flat(self.field.fde, q, np.array([0, q.shape[0]], np.int64), document=False)

    def rerank(self, txn, aux, q: np.ndarray, cand: np.ndarray, k: int, params: SearchParams):
        """(scores, rows) of the top-k candidates by exact MaxSim, best first; and the query tokens used."""
        codec = self.codec(txn, aux)
        blocks = self.blocks(txn, aux, codec.codes, rows=cand)
        rq = q if params.reduce_tau is None else ball_carve(q, params.reduce_tau)[0]
        scores = maxsim.score_docs(rq, codec.codes, blocks, cand, validated=True)
        top = np.lexsort((cand, -scores))[:k]
        return scores[top], cand[top], rq.shape[0]

    def exact(self, txn, aux, q: np.ndarray, k: int, allowed: np.ndarray):
        codec = self.codec(txn, aux)
        if codec is None:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        blocks = self.blocks(txn, aux, codec.codes)
        dist, docs = maxsim.scan_topk(
            q, codec.codes, blocks, allowed[: sum(len(b.offsets) - 1 for b in blocks)], k, validated=True
        )
        keep = docs >= 0
        return -dist[keep], docs[keep]

    # ------------------------------------------------------------------ calibration
    def calibrate(
        self,
        txn,
        aux,
        fde_rows: np.ndarray,
        live: np.ndarray,
        k: int,
        recall_target: float | None,
        n_pseudo: int,
        pseudo_tokens: int,
        seed: int,
    ) -> tuple[Calibration, int | None]:
        """Where the exact MaxSim top-k of pseudo-queries (token windows cut from random live documents, their
        own document excluded) rank by FDE score -> the candidate count reaching recall_target."""
        codec = self.codec(txn, aux)
        rows = np.flatnonzero(live)
        if codec is None or rows.size < 2:
            raise FailedPrecondition("calibration needs at least two documents")
        blocks = self.blocks(txn, aux, codec.codes)
        rng = np.random.default_rng(seed)
        sources = np.sort(rng.choice(rows, min(n_pseudo, rows.size), replace=False))
        positions = []
        for src, toks in zip(sources.tolist(), self.doc_tokens(txn, aux, sources.tolist())):
            m = min(pseudo_tokens, toks.shape[0])
            start = int(rng.integers(0, toks.shape[0] - m + 1))
            q = toks[start : start + m]
            if self.field.normalize:
                q = normalize_tokens(q, np.array([0, m]), "query")
            mask = live.astype(np.uint8).copy()
            mask[src] = 0
            kk = min(k, int(mask.sum()))
            dist, exact = maxsim.scan_topk(q, codec.codes, blocks, mask, kk, validated=True)
            scores = fde_rows @ self.query_fde(q)[0]
            scores[mask[: scores.shape[0]] == 0] = -np.inf
            for d in exact[exact >= 0]:
                positions.append(int((scores > scores[d]).sum()))
            positions += [int(live.sum())] * (k - kk)
        cal = Calibration(k, "pseudo-queries", len(sources), int(rows.size), tuple(sorted(positions)))
        default = cal.candidates_for(recall_target) if recall_target is not None else None
        put_state(txn, aux, self._calib_key, {"calibration": cal.to_dict(), "default_candidates": default}, {})
        return cal, default

    # ------------------------------------------------------------------ compaction / drop
    def compact(self, txn, aux, keep: np.ndarray) -> None:
        """Renumber: keep the token sets of rows `keep` (ascending), as new rows 0..len(keep)-1."""
        codec = self.codec(txn, aux)
        if codec is None:
            return
        blocks = [
            maxsim.Block(b.first_doc, np.array(b.offsets), np.array(b.data), None if b.aux is None else np.array(b.aux))
            for b in self.blocks(txn, aux, codec.codes)
        ]  # copies: the writes below reuse pages
        delete_prefix(txn, aux, self._chunk_prefix)
        new_row = 0
        keep_set = np.zeros(max((b.first_doc + len(b.offsets) - 1 for b in blocks), default=0), bool)
        keep_set[keep[keep < keep_set.shape[0]]] = True
        for b in blocks:
            n = len(b.offsets) - 1
            sel = np.flatnonzero(keep_set[b.first_doc : b.first_doc + n])
            if not sel.size:
                continue
            lens = (b.offsets[sel + 1] - b.offsets[sel]).astype(np.int64)
            idx = np.concatenate([np.arange(b.offsets[i], b.offsets[i + 1]) for i in sel])
            offsets = np.concatenate([[0], np.cumsum(lens)])
            self._put_chunks(txn, aux, new_row, offsets, b.data[idx], None if b.aux is None else b.aux[idx])
            new_row += sel.size

    def memory(self, txn, aux, n_live: int) -> dict:
        codec = self.codec(txn, aux)
        if codec is None:
            return {"tokens": 0, "bytes_per_token": 0}
        blocks = self.blocks(txn, aux, codec.codes)
        tokens = sum(int(b.offsets[-1]) for b in blocks)
        return {
            "tokens": tokens,
            "bytes_per_token": codec.bytes_per_token,
            "token_bytes": sum(b.data.nbytes + (0 if b.aux is None else b.aux.nbytes) for b in blocks),
            "fde_bytes_per_doc": self.field.fde_dim * 4,
        }


def _block(first: int, val, dtype) -> maxsim.Block:
    n_docs, n_tokens, width, aux_kind = _HEAD.unpack(bytes(val[: _HEAD.size]))
    pos = _HEAD.size
    offsets = np.frombuffer(val, "<i8", n_docs + 1, pos)
    pos += 8 * (n_docs + 1)
    item = np.dtype(dtype).itemsize
    data = np.frombuffer(val, dtype, n_tokens * width, pos).reshape(n_tokens, width)
    pos += item * n_tokens * width
    side = None
    if aux_kind:
        side = np.frombuffer(val, _AUX_DTYPE[aux_kind], n_tokens, pos)
    return maxsim.Block(first, offsets, data, side)
