"""ANN benchmark, ann-benchmarks style: every system built with comparable parameters, queried one query at a time
on ONE thread over a sweep of its search parameter; recall@k recomputed here from exact distances against the
shipped ground truth (tie-tolerant); QPS = queries / wall time of the loop, best of --repeat rounds in which the
systems take turns (every system is built first and stays loaded).

    python -m benchmarks ann glove-100k siftsmall --systems vecdb hnswlib faiss-hnsw usearch

Outputs, per dataset: one JSON per (system, build params, query params) under benchmarks/results/ann/<dataset>/,
a recall/QPS plot benchmarks/results/ann-<dataset>.png and a markdown table (stdout and
benchmarks/results/ann-<dataset>.md) with QPS at recall 0.90 / 0.95 (best configuration reaching it) and its
ratio to hnswlib and faiss HNSW, build time (and its ratio to hnswlib), index bytes per vector.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from vecdb.evaluation import recall_at_k

from . import datasets
from .adapters import make
from .common import RESULTS, machine

DEFAULT_SYSTEMS = ["vecdb", "hnswlib", "faiss-hnsw", "usearch"]
TARGETS = (0.90, 0.95)


def build_system(ds: datasets.Dataset, name: str, build: dict) -> tuple:
    """(adapter, build seconds, index bytes) of one system fitted on the dataset's train vectors."""
    adapter = make(name, ds.metric, **build)
    adapter.warm(ds.train[:2000])  # untimed: JIT kernels loaded or compiled (once per install, cached on disk)
    t0 = time.perf_counter()
    adapter.fit(ds.train)
    return adapter, time.perf_counter() - t0, adapter.memory_bytes()


def run_systems(ds: datasets.Dataset, systems: list[str], k: int, repeat: int, builds: dict, bar) -> dict:
    """Every system built, then queried side by side: each round times every (system, query parameters) loop once,
    the systems taking turns (in an order rotating by one system a round), and each configuration keeps its best
    round. A slow stretch of this shared machine then costs every system a round instead of deciding one system's
    figures (siftsmall's 100 queries take a few milliseconds a loop)."""
    built: dict[str, tuple] = {}
    try:
        for name in systems:
            built[name] = build_system(ds, name, builds[name])
        true = datasets.true_distances(ds, ds.test, ds.neighbors[:, :k])
        best: dict[tuple[str, int], float] = {}
        found: dict[tuple[str, int], list] = {}
        names = list(built)
        for r in range(repeat):
            # the systems take turns in a rotating order: in a fixed one, each system always followed the same
            # other system, whose index had just pushed its own out of the caches (the largest, usearch, always
            # preceded vecdb)
            for name in names[r % len(names) :] + names[: r % len(names)]:
                adapter = built[name][0]
                for i, qp in enumerate(adapter.query_param_grid):
                    adapter.set_query_params(**qp)
                    for q in ds.test[:10]:  # warm-up: this system's index back in cache (JIT done at warm())
                        adapter.query(q, k)
                    t0 = time.perf_counter()
                    res = [adapter.query(q, k) for q in ds.test]
                    best[name, i] = min(best.get((name, i), float("inf")), time.perf_counter() - t0)
                    found[name, i] = res
                    bar.update(1)
        out: dict[str, list[dict]] = {}
        for name, (adapter, build_s, mem) in built.items():
            out[name] = []
            for i, qp in enumerate(adapter.query_param_grid):
                rows = np.full((len(ds.test), k), -1, np.int64)
                for j, r in enumerate(found[name, i]):
                    r = np.asarray(r, np.int64)[:k]
                    rows[j, : len(r)] = r
                rec = {
                    "dataset": ds.name,
                    "system": name,
                    "label": adapter.label(),
                    "build": builds[name],
                    "query": qp,
                    "k": k,
                    "recall": recall_at_k(datasets.true_distances(ds, ds.test, rows), true, k),
                    "qps": len(ds.test) / best[name, i],
                    "rounds": repeat,
                    "build_s": build_s,
                    "index_bytes": mem,
                    "bytes_per_vector": mem / len(ds.train),
                    "n": len(ds.train),
                }
                out[name].append(rec)
                save_run(rec)
    finally:
        for adapter, _, _ in built.values():
            adapter.close()
    return out


def save_run(rec: dict) -> None:
    qp = ",".join(f"{a}={b}" for a, b in sorted(rec["query"].items())) or "default"
    bp = ",".join(f"{a}={b}" for a, b in sorted(rec["build"].items())) or "default"
    d = RESULTS / "ann" / rec["dataset"]
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{rec['system']}__{bp}__{qp}.json").write_text(json.dumps({**rec, "machine": machine()}, indent=1))


def best_at(runs: list[dict], target: float) -> dict | None:
    ok = [r for r in runs if r["recall"] >= target]
    return max(ok, key=lambda r: r["qps"]) if ok else None


def summarize(ds_name: str, by_system: dict[str, list[dict]]) -> str:
    lines = [
        f"**{ds_name}** (k=10, single-threaded queries; QPS of the fastest configuration reaching the recall)",
        "",
        "| system | QPS @0.90 | QPS @0.95 | vs hnswlib @0.90 / @0.95 | vs faiss-hnsw @0.90 / @0.95 "
        "| build s | build vs hnswlib | index bytes/vector |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def ratio(sys_runs, peer, t):
        a, b = best_at(sys_runs, t), best_at(by_system.get(peer, []), t)
        return f"{a['qps'] / b['qps']:.2f}" if a and b else "n/a"

    hb = by_system.get("hnswlib", [{}])[0].get("build_s")
    for name, runs in by_system.items():
        cells = []
        for t in TARGETS:
            b = best_at(runs, t)
            cells.append(f"{b['qps']:,.0f} ({b['query']})" if b else "not reached")
        build_s = runs[0]["build_s"]
        vs_h = f"{ratio(runs, 'hnswlib', 0.90)} / {ratio(runs, 'hnswlib', 0.95)}"
        vs_f = f"{ratio(runs, 'faiss-hnsw', 0.90)} / {ratio(runs, 'faiss-hnsw', 0.95)}"
        build_ratio = f"{build_s / hb:.2f}x" if hb else "n/a"
        lines.append(
            f"| {name} | {cells[0]} | {cells[1]} | {vs_h} | {vs_f} | {build_s:.1f} | {build_ratio} "
            f"| {runs[0]['bytes_per_vector']:.0f} |"
        )
    return "\n".join(lines)


def plot(ds_name: str, by_system: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, runs in by_system.items():
        pts = sorted((r["recall"], r["qps"]) for r in runs)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries per second (1 thread, log)")
    ax.set_title(f"{ds_name}: recall vs QPS")
    ax.axvline(0.90, color="grey", lw=0.5, ls="--")
    ax.axvline(0.95, color="grey", lw=0.5, ls="--")
    ax.grid(True, which="both", lw=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("datasets", nargs="*", default=["glove-100k", "siftsmall"])
    p.add_argument("--systems", nargs="*", default=DEFAULT_SYSTEMS)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--repeat", type=int, default=5, help="rounds; each configuration keeps its best")
    p.add_argument("--M", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("--queries", type=int, default=None, help="use only the first N test queries")
    a = p.parse_args(argv)
    from .adapters import ADAPTERS  # noqa: F401 - validate names early

    unknown = [s for s in a.systems if s not in ADAPTERS]
    if unknown:
        sys.exit(f"unknown systems {unknown}; choose from {sorted(ADAPTERS)}")
    for ds_name in a.datasets:
        ds = datasets.load(ds_name)
        if a.queries:
            ds.test, ds.neighbors = ds.test[: a.queries], ds.neighbors[: a.queries]
        build = {"M": a.M, "ef_construction": a.ef_construction}
        plain = ("vecdb-exact", "faiss-flat", "faiss-ivfpq", "lancedb")  # no graph parameters
        builds = {s: {} if s in plain else build for s in a.systems}
        total = a.repeat * sum(len(_grid(s)) for s in a.systems)
        with tqdm(total=total, desc=ds_name, unit="loop", disable=not sys.stderr.isatty()) as bar:
            by_system = run_systems(ds, a.systems, a.k, a.repeat, builds, bar)
        table = summarize(ds.name, by_system)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"ann-{ds.name}.md").write_text(table + "\n")
        plot(ds.name, by_system, RESULTS / f"ann-{ds.name}.png")
        print(table)
        print()


def _grid(name: str) -> list[dict]:
    import importlib

    from .adapters import ADAPTERS

    module, cls = ADAPTERS[name].split(":")
    return getattr(importlib.import_module(module), cls).query_param_grid


if __name__ == "__main__":
    main()
