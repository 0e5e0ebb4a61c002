"""Token storage for multi-vector documents: validation, compression codecs, blocks with per-document offsets.

A document is an (n_tokens, dim) array with n_tokens >= 1. An empty document is rejected with InvalidArgument:
MaxSim over no tokens is not a score (it would be 0 against every query, or -inf, and MUVERA has nothing to
encode), so a point without tokens must be deleted (or not given this field), not stored empty.

TokenStore keeps documents in blocks (flat codes + offsets, the layout of kernels.maxsim.Block) of about
`block_tokens` tokens, a document never split: a block is sealed once it holds block_tokens tokens or more, so a
block has a bounded size whatever the document lengths (65,536 tokens of d = 384: 96 MB float32, 24 MB int8,
3.4 MB binary; choose smaller blocks where the engine rewrites the open block on append). Codecs: codecs.py;
everything persists as (dict, arrays).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from ..kernels import maxsim
from ..kernels.maxsim import Block, Codes
from .codecs import TokenCodec, TokenCompression

MAX_TOKENS_PER_DOC = 1 << 16


# ---------------------------------------------------------------------------------------------------------------
# Input validation


def as_token_sets(docs: object, dim: int, what: str = "document") -> tuple[np.ndarray, np.ndarray]:
    """A batch of token sets -> (flat (T, dim) float32, offsets (n + 1,) int64), or a clear InvalidArgument.

    docs: a sequence of (n_tokens_i, dim) array-likes, or one (n_docs, n_tokens, dim) array.
    """
    if isinstance(docs, np.ndarray):
        if docs.ndim != 3:
            raise InvalidArgument(
                f"{what}s must be a list of (n_tokens, {dim}) arrays or one 3-D array, got shape {docs.shape}"
            )
        docs = list(docs)
    if isinstance(docs, str | bytes) or not isinstance(docs, Sequence):
        raise InvalidArgument(f"{what}s must be a list of (n_tokens, {dim}) arrays, got {type(docs).__name__}")
    mats = []
    for i, doc in enumerate(docs):
        if isinstance(doc, np.ndarray) and doc.dtype.kind not in "fiu":
            raise InvalidArgument(f"{what} {i} must hold numbers, got dtype {doc.dtype}")
        try:
            arr = np.asarray(doc, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise InvalidArgument(f"{what} {i} is not a numeric (n_tokens, {dim}) array (ragged rows?): {e}") from None
        if arr.ndim != 2 or arr.shape[1] != dim:
            raise InvalidArgument(f"{what} {i} has shape {arr.shape}, expected (n_tokens, {dim})")
        if arr.shape[0] == 0:
            raise InvalidArgument(
                f"{what} {i} has no token vectors: a multi-vector {what} needs at least one token "
                "(empty documents are rejected; leave the field out or delete the point instead)"
            )
        if arr.shape[0] > MAX_TOKENS_PER_DOC:
            raise InvalidArgument(f"{what} {i} has {arr.shape[0]} tokens, more than the limit {MAX_TOKENS_PER_DOC}")
        bad = ~np.isfinite(arr)
        if bad.any():
            t = int(np.argwhere(bad)[0][0])
            raise InvalidArgument(f"{what} {i} token {t} contains NaN or infinity")
        mats.append(arr)
    if not mats:
        return np.empty((0, dim), np.float32), np.zeros(1, np.int64)
    offsets = np.concatenate([[0], np.cumsum([m.shape[0] for m in mats])]).astype(np.int64)
    return np.ascontiguousarray(np.concatenate(mats)), offsets


def check_flat(tokens: object, offsets: object, dim: int, what: str = "document") -> tuple[np.ndarray, np.ndarray]:
    """Validate an already-flat batch (tokens (T, dim), offsets (n + 1,)) under the same rules as as_token_sets."""
    try:
        t = np.ascontiguousarray(tokens, dtype=np.float32)
        o = np.ascontiguousarray(offsets, dtype=np.int64)
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"{what} tokens and offsets must be numeric arrays: {e}") from None
    if t.ndim != 2 or t.shape[1] != dim:
        raise InvalidArgument(f"{what} tokens have shape {t.shape}, expected (T, {dim})")
    if o.ndim != 1 or o.shape[0] < 1 or o[0] != 0 or o[-1] != t.shape[0]:
        raise InvalidArgument(f"{what} offsets must be 1-D, start at 0 and end at the token count {t.shape[0]}")
    lengths = np.diff(o)
    if (lengths <= 0).any():
        i = int(np.argmax(lengths <= 0))
        raise InvalidArgument(f"{what} {i} has no token vectors (empty documents are rejected)")
    if (lengths > MAX_TOKENS_PER_DOC).any():
        raise InvalidArgument(f"a {what} has more than {MAX_TOKENS_PER_DOC} tokens")
    if not np.isfinite(t).all():
        row = int(np.argwhere(~np.isfinite(t))[0][0])
        i = int(np.searchsorted(o, row, side="right") - 1)
        raise InvalidArgument(f"{what} {i} token {row - o[i]} contains NaN or infinity")
    return t, o


def normalize_tokens(tokens: np.ndarray, offsets: np.ndarray, what: str = "document") -> np.ndarray:
    """Unit-length token vectors (cosine-style MaxSim); a zero token has no direction and is rejected."""
    norms = np.linalg.norm(tokens, axis=1)
    zero = norms == 0
    if zero.any():
        row = int(np.argmax(zero))
        i = int(np.searchsorted(offsets, row, side="right") - 1)
        raise InvalidArgument(f"{what} {i} token {row - offsets[i]} is a zero vector, which has no direction")
    return np.ascontiguousarray(tokens / norms[:, None].astype(np.float32), dtype=np.float32)


# ---------------------------------------------------------------------------------------------------------------
# Store


class TokenStore:
    """Multi-vector documents of one field: blocks of flat token codes + offsets, scored by kernels.maxsim.

    Documents get consecutive numbers 0, 1, 2... in insertion order (the engine's dense row ids). `normalize`
    makes every token unit length (cosine-style MaxSim, the ColBERT convention); queries are normalised the same
    way by `prepare_query`. A codec that needs training (int8, residual) is fitted by `fit` or on the first `add`.
    """

    def __init__(
        self,
        dim: int,
        compression: TokenCompression | None = None,
        *,
        normalize: bool = True,
        block_tokens: int = 65_536,
        codec: TokenCodec | None = None,
    ):
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise InvalidArgument(f"token dim must be a positive integer, got {dim!r}")
        if isinstance(block_tokens, bool) or not isinstance(block_tokens, int) or block_tokens < 1:
            raise InvalidArgument(f"block_tokens must be a positive integer, got {block_tokens!r}")
        self.dim = dim
        self.compression = compression or (codec.compression if codec else TokenCompression())
        self.normalize = bool(normalize)
        self.block_tokens = block_tokens
        self.codec = codec if codec is not None else (None if self.compression.needs_training else TokenCodec(
            self.compression, dim))  # fmt: skip
        self._sealed: list[Block] = []
        self._tail: list[Block] = []  # pieces of the open block, joined on first read (appends stay O(batch))
        self._n_docs = 0

    # -- writing -------------------------------------------------------------------------------------------------

    def prepare(self, docs: object, what: str = "document") -> tuple[np.ndarray, np.ndarray]:
        """Validate (and normalise) a batch: (flat tokens, offsets) exactly as they would be encoded."""
        flat, offsets = as_token_sets(docs, self.dim, what)
        if self.normalize and flat.shape[0]:
            flat = normalize_tokens(flat, offsets, what)
        return flat, offsets

    def prepare_query(self, query: object) -> np.ndarray:
        """One query token set (n_tokens, dim) -> float32, validated and normalised like documents."""
        flat, offsets = self.prepare([query], "query")
        return flat

    def fit(self, docs: object) -> None:
        """Train the codec on a sample of documents (a no-op for none / binary)."""
        flat, _ = self.prepare(docs)
        self.codec = TokenCodec.fit(self.compression, self.dim, flat)

    def encode(self, flat: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Prepared tokens -> (data, aux) codes (the engine persists these in its blocks)."""
        if self.codec is None:
            self.codec = TokenCodec.fit(self.compression, self.dim, flat)
        return self.codec.encode(flat)

    def add(self, docs: object) -> np.ndarray:
        """Append documents; returns their document numbers."""
        flat, offsets = self.prepare(docs)
        n = offsets.shape[0] - 1
        first = self.n_docs
        if n == 0:
            return np.zeros(0, np.int64)
        data, aux = self.encode(flat, offsets)
        self.append_encoded(offsets, data, aux)
        return np.arange(first, first + n, dtype=np.int64)

    def append_encoded(self, offsets: np.ndarray, data: np.ndarray, aux: np.ndarray | None) -> None:
        """Append already-encoded documents (offsets from 0, codes from `encode`) to the open block, sealing it
        whenever it reaches block_tokens tokens."""
        n = offsets.shape[0] - 1
        done = 0
        while done < n:
            open_tokens = sum(int(b.offsets[-1]) for b in self._tail)
            # documents that fit before the open block reaches block_tokens (at least one)
            limit = offsets[done] + max(self.block_tokens - open_tokens, 1)
            stop = min(max(int(np.searchsorted(offsets, limit, side="left")), done + 1), n)
            t0, t1 = offsets[done], offsets[stop]
            self._tail.append(
                Block(
                    self._n_docs,
                    offsets[done : stop + 1] - t0,
                    data[t0:t1].copy(),
                    None if aux is None else aux[t0:t1].copy(),
                )
            )
            self._n_docs += stop - done
            done = stop
            if open_tokens + int(t1 - t0) >= self.block_tokens:
                self._sealed.append(self._join_tail())

    def _join_tail(self) -> Block:
        parts, self._tail = self._tail, []
        if len(parts) == 1:
            return parts[0]
        ends = np.cumsum([int(b.offsets[-1]) for b in parts])
        offsets = np.concatenate([parts[0].offsets] + [b.offsets[1:] + e for b, e in zip(parts[1:], ends[:-1])])
        aux = None if parts[0].aux is None else np.concatenate([b.aux for b in parts])
        return Block(parts[0].first_doc, offsets, np.concatenate([b.data for b in parts]), aux)

    @property
    def blocks(self) -> list[Block]:
        """Every block, the open one last (what the kernels and the engine's persistence read)."""
        if len(self._tail) > 1:
            self._tail = [self._join_tail()]
        return self._sealed + self._tail

    # -- reading -------------------------------------------------------------------------------------------------

    @property
    def n_docs(self) -> int:
        return self._n_docs

    @property
    def n_tokens(self) -> int:
        return int(sum(int(b.offsets[-1]) for b in self.blocks))

    @property
    def codes(self) -> Codes:
        if self.codec is None:
            raise InvalidArgument("the token codec is not trained yet: call fit() or add documents first")
        return self.codec.codes

    def doc_tokens(self, doc: int) -> np.ndarray:
        """The stored (decoded, so approximate when compressed) token vectors of one document."""
        if not 0 <= doc < self.n_docs:
            raise InvalidArgument(f"document {doc} does not exist (the store holds {self.n_docs})")
        b = self.blocks[int(np.searchsorted([x.first_doc for x in self.blocks], doc, side="right")) - 1]
        i = doc - b.first_doc
        t0, t1 = b.offsets[i], b.offsets[i + 1]
        return self.codec.decode(b.data[t0:t1], None if b.aux is None else b.aux[t0:t1])

    def token_counts(self) -> np.ndarray:
        return np.concatenate([np.diff(b.offsets) for b in self.blocks]) if self.blocks else np.zeros(0, np.int64)

    def scan_topk(self, query: object, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Exhaustive exact MaxSim top-k: (scores (k,), docs (k,)), best first, docs -1 past the allowed count."""
        q = self.prepare_query(query)
        if allowed is None:
            allowed = np.ones(self.n_docs, np.uint8)
        if not self.blocks:
            return np.full(k, -np.inf, np.float32), np.full(k, -1, np.int64)
        dist, docs = maxsim.scan_topk(q, self.codes, self.blocks, allowed, k, validated=True)
        return -dist, docs

    def score(self, query: object, docs: object, *, prepared: bool = False) -> np.ndarray:
        """Exact MaxSim of a query against listed documents (re-ranking), in the given order."""
        q = query if prepared else self.prepare_query(query)
        return maxsim.score_docs(q, self.codes, self.blocks, docs, validated=True)

    def memory(self) -> dict[str, float]:
        """Bytes per document: token codes, offsets, and the codec's shared arrays spread over the documents."""
        n = max(self.n_docs, 1)
        tokens = sum(b.data.nbytes + (b.aux.nbytes if b.aux is not None else 0) for b in self.blocks)
        offsets = sum(b.offsets.nbytes for b in self.blocks)
        shared = self.codec.shared_bytes if self.codec else 0
        return {
            "token_bytes_per_doc": tokens / n,
            "offset_bytes_per_doc": offsets / n,
            "shared_bytes_per_doc": shared / n,
            "bytes_per_doc": (tokens + offsets + shared) / n,
            "bytes_per_token": self.codec.bytes_per_token if self.codec else 4 * self.dim,
        }

    # -- persistence ---------------------------------------------------------------------------------------------

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(json-able dict, arrays) holding everything: codec state and every block."""
        meta: dict[str, Any] = {
            "dim": self.dim,
            "compression": self.compression.to_dict(),
            "normalize": self.normalize,
            "block_tokens": self.block_tokens,
            "blocks": [b.first_doc for b in self.blocks],
            "codec": None,
        }
        arrays: dict[str, np.ndarray] = {}
        if self.codec is not None:
            cmeta, carr = self.codec.state()
            meta["codec"] = cmeta
            arrays.update({f"codec.{k}": v for k, v in carr.items()})
        for i, b in enumerate(self.blocks):
            arrays[f"block.{i}.offsets"] = b.offsets
            arrays[f"block.{i}.data"] = b.data
            if b.aux is not None:
                arrays[f"block.{i}.aux"] = b.aux
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> TokenStore:
        codec = None
        if meta.get("codec") is not None:
            carr = {k[len("codec.") :]: v for k, v in arrays.items() if k.startswith("codec.")}
            codec = TokenCodec.from_state(meta["codec"], carr)
        store = cls(
            int(meta["dim"]),
            TokenCompression.from_dict(meta["compression"]),
            normalize=bool(meta["normalize"]),
            block_tokens=int(meta["block_tokens"]),
            codec=codec,
        )
        blocks = [
            Block(first, arrays[f"block.{i}.offsets"], arrays[f"block.{i}.data"], arrays.get(f"block.{i}.aux"))
            for i, first in enumerate(meta["blocks"])
        ]
        if blocks:
            blocks = maxsim.check_blocks(store.codes, blocks)
            sealed = [b for b in blocks if int(b.offsets[-1]) >= store.block_tokens]
            store._sealed, store._tail = sealed, blocks[len(sealed) :]
            store._n_docs = blocks[-1].first_doc + blocks[-1].n_docs
        return store


def _copy(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else a.copy()
