"""Data sets for the benchmarks: the real sets under ../shared/data, and standard ann-benchmarks HDF5 files.

Each loader returns a Dataset with float32 train/test matrices, the metric, and exact ground truth (neighbour
indices into train, ascending by distance, plus their distances in the kernel convention when available).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("VECDB_DATA", ROOT.parent / "shared" / "data"))


@dataclass
class Dataset:
    name: str
    train: np.ndarray
    test: np.ndarray
    metric: str  # "l2" or "cosine" (angular)
    neighbors: np.ndarray  # (nq, >=k) indices into train, exact
    extra: dict | None = None

    @property
    def dim(self) -> int:
        return self.train.shape[1]


def read_fvecs(path: Path) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.int32)
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].view(np.float32).copy()


def read_ivecs(path: Path) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.int32)
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].copy()


def _need(p: Path) -> Path:
    if not p.exists():
        raise FileNotFoundError(f"{p} not found: set VECDB_DATA to the shared data folder")
    return p


def siftsmall() -> Dataset:
    d = _need(DATA / "siftsmall")
    return Dataset(
        "siftsmall",
        read_fvecs(d / "siftsmall_base.fvecs"),
        read_fvecs(d / "siftsmall_query.fvecs"),
        "l2",
        read_ivecs(d / "siftsmall_groundtruth.ivecs"),
    )


def bigann10k() -> Dataset:
    d = _need(DATA / "tiledb-bigann10k")
    return Dataset(
        "bigann10k",
        np.load(d / "base.npy").astype(np.float32),
        np.load(d / "query.npy").astype(np.float32),
        "l2",
        read_ivecs(d / "groundtruth.ivecs"),
    )


def fmnist() -> Dataset:
    d = _need(DATA / "tiledb-fmnistsmall")
    return Dataset(
        "fmnistsmall",
        np.load(d / "base.npy").astype(np.float32),
        np.load(d / "query.npy").astype(np.float32),
        "l2",
        read_ivecs(d / "groundtruth.ivecs"),
    )


def glove100k() -> Dataset:
    d = _need(DATA / "glove-6b-50d-angular")
    words = json.loads((d / "words.json").read_text())
    return Dataset(
        "glove-100k",
        np.load(d / "train_100k.npy").astype(np.float32),
        np.load(d / "test.npy").astype(np.float32),
        "cosine",
        np.load(d / "neighbors_100k.npy"),
        extra={"train_words": words["train_100k_words"], "test_words": words["test_words"]},
    )


def hdf5(path: str | Path) -> Dataset:
    """A standard ann-benchmarks file (train / test / neighbors, attrs['distance'] = euclidean | angular)."""
    import h5py

    with h5py.File(path, "r") as f:
        distance = f.attrs.get("distance", "euclidean")
        metric = {"euclidean": "l2", "angular": "cosine", "dot": "dot", "ip": "dot"}.get(distance)
        if metric is None:
            raise ValueError(f"{path}: unsupported distance {distance!r}")
        return Dataset(
            Path(path).stem,
            np.asarray(f["train"], np.float32),
            np.asarray(f["test"], np.float32),
            metric,
            np.asarray(f["neighbors"]),
        )


LOADERS = {"siftsmall": siftsmall, "bigann10k": bigann10k, "fmnistsmall": fmnist, "glove-100k": glove100k}


def load(name: str) -> Dataset:
    if name in LOADERS:
        return LOADERS[name]()
    if name.endswith((".hdf5", ".h5")):
        return hdf5(name)
    raise KeyError(f"unknown dataset {name!r}: choose one of {sorted(LOADERS)} or a path to an .hdf5 file")


def true_distances(ds: Dataset, queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Exact kernel-convention distances (smaller is better) of given train rows to each query, float64;
    rows == -1 gives +inf. Used to recompute recall ourselves instead of trusting any system's scores."""
    q = queries.astype(np.float64)
    x = ds.train.astype(np.float64)
    out = np.full(rows.shape, np.inf)
    valid = rows >= 0
    for i in range(rows.shape[0]):
        r = rows[i][valid[i]]
        if ds.metric == "l2":
            out[i, valid[i]] = ((x[r] - q[i]) ** 2).sum(1)
        elif ds.metric == "cosine":
            xn = x[r] / np.linalg.norm(x[r], axis=1, keepdims=True)
            out[i, valid[i]] = -(xn @ (q[i] / np.linalg.norm(q[i])))
        else:
            out[i, valid[i]] = -(x[r] @ q[i])
    return out
