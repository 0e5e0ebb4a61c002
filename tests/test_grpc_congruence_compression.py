"""Congruence of compressed and binary fields: schemas with a codec round-trip over the wire; training, searches on
codes (calibrated, fixed oversampling, codes only, filtered, forced through an index), Hamming search on a Binary
field, the compression report and bad calls: embedded, blocking client and asyncio client must agree step by step."""

import numpy as np
import pytest
from grpc_fixtures import canon, pair, remote, remote_async, server, start  # noqa: F401 - fixtures

from vecdb import Binary, Dense, HNSWParams
from vecdb import filters as F
from vecdb.compression import ProductQuantization
from vecdb.params import SearchParams

D = 16
RNG = np.random.default_rng(11)
CENTERS = RNG.normal(size=(10, D)).astype(np.float32) * 3
X = (CENTERS[RNG.integers(0, 10, 600)] + RNG.normal(size=(600, D))).astype(np.float32)
BITS = RNG.integers(0, 2, (600, 70)).astype(np.uint8)
PQ = ProductQuantization(m=4, nbits=5, train_size=400, iterations=5)


def _untimed(rows):
    """Report rows without their timings (QPS and fit time differ from run to run)."""
    return [{k: v for k, v in r.to_dict().items() if k not in ("qps", "qps_rescored", "fit_seconds")} for r in rows]


def _collection(db):
    return db.create_collection(
        "c",
        vectors={
            "v": Dense(D, "cosine", index=None, compression=PQ),
            "g": Dense(D, "l2", index=HNSWParams(m=8, ef_construction=32, index_threshold=0), compression="sign"),
            "b": Binary(70),
        },
        payload={"k": "integer"},
    )


def test_compressed_and_binary_fields(pair):
    def scenario(db, log):
        c = log("create", _collection, db)
        log("schema", lambda: db.get_collection("c").schema.to_dict())
        log("upsert below train size", c.upsert, list(range(300)), {"v": X[:300], "g": X[:300], "b": BITS[:300]},
            [{"k": i % 3} for i in range(300)])  # fmt: skip
        log("search untrained", c.search, "v", X[1], k=3)
        log("upsert reaching train size", c.upsert, list(range(300, 600)),
            {"v": X[300:], "g": X[300:], "b": BITS[300:]}, [{"k": i % 3} for i in range(300, 600)])  # fmt: skip
        log("search calibrated", c.search, "v", X[:4], k=5)
        log("search recall target", c.search, "v", X[5], k=5, params=SearchParams(recall_target=0.5))
        log("search fixed oversample", c.search, "v", X[6], k=5, params=SearchParams(oversample=3))
        log("search codes only", c.search, "v", X[7], k=5, params=SearchParams(rescore=False))
        log("search filtered", c.search, "v", X[8], k=5, filter=F.eq("k", 1), params=SearchParams(oversample=2))
        log("search exact", c.search, "v", X[9], k=5, params=SearchParams(exact=True))
        log("train g", c.train_compression, "g", seed=2)
        log("graph stays default", c.search, "g", X[10], k=5)
        log("codes through an indexed field", c.search, "g", X[10], k=5, params=SearchParams(use_codes=True))
        log("retrain v", c.train_compression, "v", sample=200, seed=1)
        log("retrain with queries", c.train_compression, "v", queries=X[:50] + 0.1)
        log("search after retraining", c.search, "v", X[11], k=5)
        log("hamming packed", c.search, "b", np.packbits(BITS[12]), k=3)
        log("hamming 0/1 batch", c.search, "b", BITS[13:15], k=3, filter=F.eq("k", 2))
        log("binary vectors", c.get, [12], with_vectors=True)
        log("report", lambda: _untimed(c.compression_report("v", ["sign", "int8"], sample=50, seed=3)))
        log("pick", lambda: c.pick_compression("v", budget_bytes=8, rows=c.compression_report(
            "v", ["sign", "pq:4"], sample=50)).codec)  # fmt: skip
        log("delete and compact", lambda: (c.delete(list(range(0, 600, 2))), c.compact())[1])
        log("search after compaction", c.search, "v", X[11], k=5)

    entries = {e[0]: e for e in pair.run(scenario)}
    assert [label for label, e in entries.items() if e[1] == "raise"] == []
    assert entries["search calibrated"][2][0][5]["path"] == ("str", "codes+rescore")
    assert entries["codes through an indexed field"][2][5]["path"] == ("str", "codes+rescore")
    assert entries["graph stays default"][2][5]["path"] == ("str", "hnsw")


BAD_CALLS = [
    ("train uncompressed", lambda c: c.train_compression("b")),
    ("train unknown field", lambda c: c.train_compression("zz")),
    ("train bad sample", lambda c: c.train_compression("v", sample=1)),
    ("train bad seed", lambda c: c.train_compression("v", seed=-1)),
    ("train queries of the wrong dim", lambda c: c.train_compression("v", queries=np.ones((3, 5)))),
    ("oversample below 1", lambda c: c.search("v", X[0], k=2, params=SearchParams(oversample=0.5))),
    ("binary of the wrong width", lambda c: c.search("b", np.zeros(69, np.uint8), k=2)),
    ("binary upsert of the wrong width", lambda c: c.upsert([1], {"v": X[:1], "g": X[:1], "b": np.zeros((1, 9))})),
    ("codes knobs on a binary field", lambda c: c.search("b", BITS[0], k=2, params=SearchParams(use_codes=True))),
    ("report unknown codec", lambda c: c.compression_report("v", ["zstd"])),
    ("report bad sample", lambda c: c.compression_report("v", ["sign"], sample=0)),
    ("report of a binary field", lambda c: c.compression_report("b", ["sign"])),
]


@pytest.mark.parametrize("call", [c for _, c in BAD_CALLS], ids=[n for n, _ in BAD_CALLS])
def test_bad_compression_calls(pair, call):
    def scenario(db, log):
        c = _collection(db)
        c.upsert(list(range(100)), {"v": X[:100], "g": X[:100], "b": BITS[:100]})
        log("bad call", call, c)
        log("count unchanged", c.count)

    (entry, _) = pair.run(scenario)
    assert entry[1] == "raise" and entry[2] == "InvalidArgument", entry


def test_bad_specs_fail_alike(pair):
    def scenario(db, log):
        log("pq m not dividing", db.create_collection, "x", vectors={"v": {"kind": "dense", "dim": 10,
            "compression": {"kind": "pq", "m": 3}}})  # fmt: skip
        log("unknown kind", db.create_collection, "x", vectors={"v": {"kind": "dense", "dim": 10,
            "compression": {"kind": "zstd"}}})  # fmt: skip
        log("binary bits 0", db.create_collection, "x", vectors={"v": {"kind": "binary", "bits": 0}})

    for entry in pair.run(scenario):
        assert entry[1] == "raise" and entry[2] == "InvalidArgument", entry
