"""Recall floors, one table: (index, codec, dataset) -> the recall@10 a test must reach.

Each floor sits below what the code measured when it was set (the margin absorbs platform float noise, not
regressions); the failure message quotes the floor and the measurement.
"""

FLOORS = {
    # HNSW, default m=16, ef_construction=200; searched with the default ef
    ("hnsw", "none", "siftsmall"): 0.97,  # measured 0.999 at ef=64
    ("hnsw", "none", "glove-20k"): 0.93,  # measured 0.966 at ef=64
    ("hnsw", "none", "glove-20k-after-compaction"): 0.90,  # measured 0.953 (1/3 deleted, then compacted)
}


def floor(index: str, codec: str, dataset: str) -> float:
    return FLOORS[(index, codec, dataset)]
