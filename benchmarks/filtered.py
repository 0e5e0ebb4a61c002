"""Filtered ANN search at every selectivity, side by side with faiss, hnswlib, chromadb and lancedb.

Data (real):
- glove-100k with attributes derived from the words: `rank` (position in GloVe's frequency-ordered vocabulary),
  `length`, `first` (first letter), and `topic` (one of 10 k-means clusters of the vectors). Filters:
  rank ranges giving selectivity 0.1%, 1%, 10%, 50%, 100%; a two-field filter (first letter in a set AND length
  range); and an ANTI-CORRELATED one: each query keeps only the topic cluster least similar to it (the matching
  points are far from the query).
- AG News test (7,600 all-MiniLM-L6-v2 embeddings) with the real class labels: each query (a held-out article)
  searches among articles of one class (25% selectivity), its own class and another class.
Ground truth: exact filtered top-10 (numpy over the matching rows). Every system sweeps its search beam; the table
reports, per filter, QPS (single-threaded, one query at a time) of the cheapest setting reaching recall@10 >= 0.95
and vecdb's ratio to each peer. Peers: faiss HNSW + IDSelectorBitmap (efSearch swept), hnswlib with a filter
function (ef swept), chromadb and lancedb with their where-filters (default / nprobes+refine swept).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from . import datasets
from .common import RESULTS, save

TARGET = 0.95
# beams swept by vecdb, faiss and hnswlib alike: steps of ~1.2x up to 128 (as in the ANN benchmark), then doubling
EFS = (10, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 72, 80, 96, 112, 128, 256, 512)
REPEAT = 5  # alternating rounds of the settings reported (one pass on this shared machine swung a ratio by 0.1)


@dataclass
class Case:
    name: str
    selectivity: float
    masks: list[np.ndarray]  # per query: bool over train rows
    vecdb_filters: list  # per query: vecdb filter
    where: list  # per query: dict (chroma-style) or None
    sql: list  # per query: lancedb SQL string or None


def glove_cases(nq: int) -> tuple[np.ndarray, np.ndarray, dict, list[Case]]:
    from vecdb import filters as F

    ds = datasets.glove100k()
    train = ds.train / np.linalg.norm(ds.train, axis=1, keepdims=True)
    test = ds.test[:nq] / np.linalg.norm(ds.test[:nq], axis=1, keepdims=True)
    words = ds.extra["train_words"]
    rank = np.argsort(np.argsort(np.load(datasets.DATA / "glove-6b-50d-angular" / "train_100k_row_ids.npy")))
    length = np.array([len(w) for w in words])
    first = np.array([w[0] if w[0].isalpha() else "#" for w in words])
    import faiss

    km = faiss.Kmeans(train.shape[1], 10, niter=20, seed=1, spherical=True)
    km.train(train.astype(np.float32))
    topic = km.index.search(train.astype(np.float32), 1)[1][:, 0]
    attrs = {"rank": rank, "length": length, "first": first, "topic": topic}
    n = len(train)
    cases = []
    for s in (0.001, 0.01, 0.1, 0.5, 1.0):
        lo = int(n * 0.3) if s < 1 else 0
        hi = lo + int(round(s * n))
        m = (rank >= lo) & (rank < hi)
        f = F.range_("rank", gte=lo, lt=hi)
        cases.append(
            Case(
                f"rank range {s:.1%}",
                m.mean(),
                [m] * len(test),
                [f] * len(test),
                [{"$and": [{"rank": {"$gte": lo}}, {"rank": {"$lt": hi}}]}] * len(test),
                [f"rank >= {lo} AND rank < {hi}"] * len(test),
            )
        )
    letters = ["s", "c", "p"]
    m = np.isin(first, letters) & (length >= 5) & (length <= 8)
    f = F.isin("first", letters) & F.range_("length", gte=5, lte=8)
    cases.append(
        Case(
            "first in {s,c,p} & 5<=len<=8",
            m.mean(),
            [m] * len(test),
            [f] * len(test),
            [{"$and": [{"first": {"$in": letters}}, {"length": {"$gte": 5}}, {"length": {"$lte": 8}}]}] * len(test),
            ["first IN ('s','c','p') AND length >= 5 AND length <= 8"] * len(test),
        )
    )
    cent = km.centroids / np.linalg.norm(km.centroids, axis=1, keepdims=True)
    far = np.argmin(test @ cent.T, axis=1)  # per query: the topic least like it
    masks = [topic == c for c in far]
    cases.append(
        Case(
            "anti-correlated topic",
            float(np.mean([mm.mean() for mm in masks])),
            masks,
            [F.eq("topic", int(c)) for c in far],
            [{"topic": int(c)} for c in far],
            [f"topic = {int(c)}" for c in far],
        )
    )
    return train.astype(np.float32), test.astype(np.float32), attrs, cases


def agnews_cases(nq: int) -> tuple[np.ndarray, np.ndarray, dict, list[Case]]:
    from vecdb import filters as F

    d = datasets.DATA / "embeddings" / "ag_news_test"
    emb = np.load(d / "emb_all-MiniLM-L6-v2.npy").astype(np.float32)
    label = np.load(d / "label.npy").astype(np.int64)
    rng = np.random.default_rng(0)
    qi = rng.choice(len(emb), nq, replace=False)
    base = np.setdiff1d(np.arange(len(emb)), qi)
    train, test, lab = emb[base], emb[qi], label[base]
    own = label[qi]
    other = (own % 4) + 1
    cases = []
    for name, target in (("same class as the query", own), ("another class", other)):
        masks = [lab == t for t in target]
        cases.append(
            Case(
                f"AG News: {name}",
                float(np.mean([m.mean() for m in masks])),
                masks,
                [F.eq("label", int(t)) for t in target],
                [{"label": int(t)} for t in target],
                [f"label = {int(t)}" for t in target],
            )
        )
    return train, test, {"label": lab}, cases


def exact_filtered(train, test, masks, k):
    out = np.full((len(test), k), -1, np.int64)
    for i, m in enumerate(masks):
        rows = np.flatnonzero(m)
        s = train[rows] @ test[i]
        top = rows[np.argsort(-s, kind="stable")[:k]]
        out[i, : len(top)] = top
    return out


def recall(found: list[np.ndarray], truth: np.ndarray, train, test, k) -> float:
    total = 0.0
    for i, f in enumerate(found):
        t = truth[i][truth[i] >= 0]
        if not len(t):
            total += 1.0
            continue
        kth = (train[t] @ test[i]).min()
        f = np.asarray(f, np.int64)
        f = f[f >= 0]
        total += min(np.sum(train[f] @ test[i] >= kth - 1e-6), len(t)) / len(t)
    return total / len(found)


# ---------------------------------------------------------------------- systems
class VecDB:
    name = "vecdb"

    def __init__(self, train, attrs):
        import vecdb

        os.environ["VECDB_THREADS"] = str(os.cpu_count() or 1)
        self.dir = tempfile.mkdtemp(prefix="vecdb-filt-")
        self.db = vecdb.open(self.dir)
        payload = {k: ("keyword" if v.dtype.kind in "UO" else "integer") for k, v in attrs.items()}
        self.col = self.db.create_collection("c", vectors={"v": vecdb.Dense(train.shape[1], "cosine")}, payload=payload)
        rows = [
            {k: (str(v[i]) if v.dtype.kind in "UO" else int(v[i])) for k, v in attrs.items()} for i in range(len(train))
        ]
        for s in range(0, len(train), 20_000):
            self.col.upsert(np.arange(s, min(s + 20_000, len(train))), train[s : s + 20_000], rows[s : s + 20_000])
        self.col.build_index(progress=False)
        os.environ["VECDB_THREADS"] = "1"

    def query(self, q, k, case, i, ef):
        from vecdb.params import SearchParams

        return self.col.search(
            "v", q, k=k, filter=case.vecdb_filters[i], params=SearchParams(ef=ef), with_payload=False
        ).ids

    def plan(self, q, case, ef):
        from vecdb.params import SearchParams

        return self.col.search("v", q, k=10, filter=case.vecdb_filters[0], params=SearchParams(ef=ef)).explain

    def close(self):
        self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        os.environ.pop("VECDB_THREADS", None)


class FaissHNSW:
    name = "faiss-hnsw+IDSelector"

    def __init__(self, train, attrs):
        import faiss

        faiss.omp_set_num_threads(os.cpu_count() or 1)
        self.index = faiss.IndexHNSWFlat(train.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = 200
        self.index.add(train)
        faiss.omp_set_num_threads(1)
        self._sel = {}

    def query(self, q, k, case, i, ef):
        import faiss

        key = (case.name, id(case.masks[i]))
        if key not in self._sel:  # the selector is built once per distinct filter, outside the timing loop's cost
            bits = np.packbits(case.masks[i], bitorder="little")
            self._sel[key] = (faiss.IDSelectorBitmap(len(case.masks[i]), faiss.swig_ptr(bits)), bits)
        params = faiss.SearchParametersHNSW(sel=self._sel[key][0], efSearch=ef)
        return self.index.search(q.reshape(1, -1), k, params=params)[1][0]

    def close(self):
        pass


class HnswLibFilter:
    name = "hnswlib+filter"

    def __init__(self, train, attrs):
        import hnswlib

        self.index = hnswlib.Index(space="ip", dim=train.shape[1])
        self.index.init_index(max_elements=len(train), M=16, ef_construction=200, random_seed=0)
        self.index.set_num_threads(os.cpu_count() or 1)
        self.index.add_items(train, np.arange(len(train)))
        self.index.set_num_threads(1)

    def query(self, q, k, case, i, ef):
        self.index.set_ef(ef)
        m = case.masks[i]
        labels, _ = self.index.knn_query(q, k=k, num_threads=1, filter=lambda label: bool(m[label]))
        return labels[0]

    def close(self):
        pass


class Chroma:
    name = "chromadb+where"
    efs = (None,)

    def __init__(self, train, attrs):
        import chromadb

        self.dir = tempfile.mkdtemp(prefix="chroma-filt-")
        client = chromadb.PersistentClient(path=self.dir)
        self.col = client.create_collection(
            "bench", configuration={"hnsw": {"space": "ip", "max_neighbors": 16, "ef_construction": 200}}
        )
        metas = [
            {k: (str(v[i]) if v.dtype.kind in "UO" else int(v[i])) for k, v in attrs.items()} for i in range(len(train))
        ]
        for s in range(0, len(train), 5000):
            e = min(s + 5000, len(train))
            self.col.add(ids=[str(i) for i in range(s, e)], embeddings=train[s:e], metadatas=metas[s:e])

    def query(self, q, k, case, i, ef):
        r = self.col.query(query_embeddings=[q], n_results=k, where=case.where[i], include=[])
        return np.array([int(x) for x in r["ids"][0]])

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Lance:
    name = "lancedb+where"
    efs = (20, 80)  # nprobes; refine_factor 5

    def __init__(self, train, attrs):
        import lancedb
        import pyarrow as pa

        self.dir = tempfile.mkdtemp(prefix="lance-filt-")
        db = lancedb.connect(self.dir)
        d = train.shape[1]
        cols = {
            "id": pa.array(np.arange(len(train))),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(train.ravel(), pa.float32()), d),
        }
        for k, v in attrs.items():
            cols[k] = pa.array(v.astype(str) if v.dtype.kind in "UO" else v.astype(np.int64))
        self.tbl = db.create_table("c", pa.table(cols))
        self.tbl.create_index(
            metric="dot",
            vector_column_name="vector",
            index_type="IVF_PQ",
            num_partitions=int(np.sqrt(len(train))),
            num_sub_vectors=d // 2,
        )
        for k in attrs:
            self.tbl.create_scalar_index(k)

    def query(self, q, k, case, i, ef):
        r = (
            self.tbl.search(q)
            .where(case.sql[i], prefilter=True)
            .limit(k)
            .nprobes(ef)
            .refine_factor(5)
            .select(["id"])
            .to_arrow()
        )
        return r["id"].to_numpy()

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


SYSTEMS = {"vecdb": VecDB, "faiss": FaissHNSW, "hnswlib": HnswLibFilter, "chromadb": Chroma, "lancedb": Lance}


def run(data: str, systems: list[str], nq: int, k: int = 10) -> list[dict]:
    """Every system built first; per filter, each system's beam raised until the recall target (one timed pass a
    setting), then the settings that reached it timed in REPEAT alternating rounds, the systems taking turns, each
    keeping its best round (a system timed alone, minutes from the others, met a different machine)."""
    train, test, attrs, cases = (glove_cases if data == "glove-100k" else agnews_cases)(nq)
    truths = {c.name: exact_filtered(train, test, c.masks, k) for c in cases}
    rows = []
    built: dict[str, tuple] = {}
    try:
        for sname in systems:
            t0 = time.perf_counter()
            sysobj = SYSTEMS[sname](train, attrs)
            built[sname] = (sysobj, time.perf_counter() - t0)
        for case in tqdm(cases, desc=data, disable=not sys.stderr.isatty()):
            chosen: dict[str, tuple[dict, int]] = {}
            for sname, (sysobj, build_s) in built.items():
                for ef in getattr(SYSTEMS[sname], "efs", EFS):
                    for i in range(min(5, len(test))):  # warm-up
                        sysobj.query(test[i], k, case, i, ef)
                    t0 = time.perf_counter()
                    found = [sysobj.query(test[i], k, case, i, ef) for i in range(len(test))]
                    dt = time.perf_counter() - t0
                    r = recall(found, truths[case.name], train, test, k)
                    rec = {
                        "data": data,
                        "system": sname,
                        "case": case.name,
                        "selectivity": case.selectivity,
                        "ef": ef,
                        "recall": r,
                        "qps": len(test) / dt,
                        "build_s": build_s,
                    }
                    if sname == "vecdb":
                        rec["plan"] = sysobj.plan(test[0], case, ef)
                    rows.append(rec)
                    if r >= TARGET:
                        chosen[sname] = (rec, ef)
                        break  # the cheapest setting reaching the target: larger beams only cost more
                else:
                    rows[-1]["below_target"] = True
            best = {sname: float("inf") for sname in chosen}
            for _ in range(REPEAT):
                for sname, (_, ef) in chosen.items():
                    sysobj = built[sname][0]
                    for i in range(min(5, len(test))):  # this system's index back in cache
                        sysobj.query(test[i], k, case, i, ef)
                    t0 = time.perf_counter()
                    for i in range(len(test)):
                        sysobj.query(test[i], k, case, i, ef)
                    best[sname] = min(best[sname], time.perf_counter() - t0)
            for sname, (rec, _) in chosen.items():
                rec["qps"] = len(test) / best[sname]
                rec["rounds"] = REPEAT
    finally:
        for sysobj, _ in built.values():
            sysobj.close()
    return rows


def table(rows: list[dict]) -> str:
    by_case: dict[str, dict[str, dict]] = {}
    for r in rows:
        cur = by_case.setdefault(r["case"], {}).get(r["system"])
        if r["recall"] >= TARGET and (cur is None or cur["recall"] < TARGET or r["qps"] > cur["qps"]):
            by_case[r["case"]][r["system"]] = r
        elif cur is None or (cur["recall"] < TARGET and r["recall"] > cur["recall"]):
            by_case[r["case"]][r["system"]] = r
    systems = list(dict.fromkeys(r["system"] for r in rows))
    head = "| filter | selectivity | " + " | ".join(systems) + " | vecdb plan |"
    lines = [head, "|" + "---|" * (len(systems) + 3)]
    for case, per in by_case.items():
        v = per.get("vecdb")
        cells = []
        for s in systems:
            r = per.get(s)
            if r is None:
                cells.append("n/a")
                continue
            mark = "" if r["recall"] >= TARGET else " (recall {:.2f} < 0.95)".format(r["recall"])
            ratio = ""
            if s != "vecdb" and v and v["recall"] >= TARGET and r["recall"] >= TARGET:
                ratio = f" (vecdb {v['qps'] / r['qps']:.2f}x)"
            cells.append(f"{r['qps']:,.0f} qps @ {r['recall']:.3f}{mark}{ratio}")
        sel = next(iter(per.values()))["selectivity"]
        plan = v.get("plan", {}).get("path", "") if v else ""
        lines.append(f"| {case} | {sel:.2%} | " + " | ".join(cells) + f" | {plan} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="*", default=["glove-100k", "agnews"])
    p.add_argument("--systems", nargs="*", default=list(SYSTEMS))
    p.add_argument("--queries", type=int, default=200)
    a = p.parse_args(argv)
    for data in a.data:
        rows = run(data, a.systems, a.queries)
        save("filtered", {"data": data, "queries": a.queries}, {"runs": rows})
        md = table(rows)
        (RESULTS / f"filtered-{data}.md").write_text(md + "\n")
        print(md)
        print()
        print(json.dumps([r for r in rows if r["system"] == "vecdb"][:2], default=str)[:300])


if __name__ == "__main__":
    main()
