"""Worker processes for the multi-process tests (run as `python tests/procs.py ROLE ...`).

writer: upserts deterministic batches, printing "ACK b" after each upsert returns (= acknowledged).
reader: opens read-only and checks that every snapshot it reads is consistent while the writer runs.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np

import vecdb

DIM = 32


def run_threads(write, read, readers: int, timeout: float = 300) -> None:
    """write() on one thread and read(i) over and over on each of `readers` threads (i = 0 .. readers - 1) until
    write returns, all started together. Fails the test on the first exception any of them raised, or when a thread
    is still alive after timeout seconds (hung)."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            write()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            stop.set()

    def reader(i: int) -> None:
        try:
            while not stop.is_set():
                read(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader, args=(i,)) for i in range(readers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors[0]


def batch(b: int, size: int) -> tuple[list[int], np.ndarray, list[dict]]:
    ids = list(range(b * size, (b + 1) * size))
    vecs = np.random.default_rng(b).normal(size=(size, DIM)).astype(np.float32)
    return ids, vecs, [{"b": b, "i": i} for i in range(size)]


def writer(path: str, start: int, size: int, churn: bool) -> None:
    db = vecdb.open(path)
    c = db.create_collection("c", vectors={"v": vecdb.Dense(DIM, "l2")}, payload={"b": "integer"}, exist_ok=True)
    b = start
    while True:
        ids, vecs, pays = batch(b, size)
        c.upsert(ids, {"v": vecs}, pays)
        if churn and b >= 2:
            c.delete(batch(b - 2, size)[0])
        print(f"ACK {b}", flush=True)
        b += 1


def reader(path: str, seconds: float, size: int) -> None:
    """Check snapshots until 30 checks over >= 5 distinct snapshots, or `seconds` (a slow machine gets time)."""
    db = vecdb.open(path, read_only=True)
    deadline = time.time() + seconds
    snapshots = set()
    checks = 0
    while time.time() < deadline and not (checks >= 30 and len(snapshots) >= 5):
        try:
            c = db["c"]
        except vecdb.NotFound:
            continue
        page = c.scroll(limit=100_000)
        groups: dict[int, list] = {}
        for p in page.points:
            groups.setdefault(p.payload["b"], []).append(p.id)
        for b, ids in groups.items():
            if sorted(ids) != batch(b, size)[0]:
                print(f"INCONSISTENT batch {b}: {len(ids)} of {size} ids visible", flush=True)
                sys.exit(1)
        if len(groups) > 3:  # the writer keeps at most 2 batches (+1 in a transaction not yet visible)
            print(f"INCONSISTENT: {len(groups)} batches visible at once", flush=True)
            sys.exit(1)
        if page.points:
            hits = c.search("v", np.zeros(DIM), k=min(5, len(page.points)))
            assert len(hits) == min(5, len(page.points))
        snapshots.add(tuple(sorted(groups)))
        checks += 1
    print(f"OK {checks} {len(snapshots)}", flush=True)


if __name__ == "__main__":
    role = sys.argv[1]
    if role == "writer":
        writer(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "churn")
    elif role == "reader":
        reader(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
