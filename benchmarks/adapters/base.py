from __future__ import annotations

import numpy as np


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
