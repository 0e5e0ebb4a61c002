from __future__ import annotations

import numpy as np

# The beam widths every graph system is swept over (vecdb, hnswlib, faiss-HNSW, usearch alike). Steps of about 1.2x:
# with the old 1.5x steps the fastest setting reaching a recall target jumped by 1.5x when a system landed at 0.948
# instead of 0.950, which decided the ratios more than the systems did.
EF_GRID = [{"ef": e} for e in (10, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 72, 80, 96, 112, 128, 160, 192, 256)]


class Adapter:
    """Base: subclasses implement fit / query; batch_query defaults to a loop of single queries."""

    name = "base"
    query_param_grid: list[dict] = [{}]

    def __init__(self, metric: str, **build) -> None:
        self.metric = metric
        self.build = build
        self.query_params: dict = {}

    def fit(self, x: np.ndarray) -> None:
        raise NotImplementedError

    def warm(self, x: np.ndarray) -> None:
        """Untimed, before fit: one-time work of the process that is not part of building an index (vecdb's JIT
        kernels are compiled once per install and then loaded from the on-disk cache; this loads or compiles them
        so the build time is the build's). Default: nothing."""

    def set_query_params(self, **params) -> None:
        self.query_params = params

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        raise NotImplementedError

    def batch_query(self, q: np.ndarray, k: int) -> list[np.ndarray]:
        return [self.query(v, k) for v in q]

    def memory_bytes(self) -> int:
        return 0

    def close(self) -> None:
        pass

    def label(self) -> str:
        b = ",".join(f"{k}={v}" for k, v in sorted(self.build.items()))
        return f"{self.name}({b})" if b else self.name
