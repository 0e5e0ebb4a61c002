"""Many reader threads (and reader processes) while a writer writes (and grows the map under them): every read is
one consistent snapshot, nothing deadlocks, no error escapes."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from procs import DIM as PDIM
from procs import batch, run_threads

import vecdb
from vecdb.params import HNSWParams

BATCH = 100
DIM = 8


def _batch(b):
    ids = list(range(b * BATCH, (b + 1) * BATCH))
    return ids, np.random.default_rng(b).normal(size=(BATCH, DIM)).astype(np.float32)


def test_readers_see_whole_batches_while_writer_grows_the_map(tmp_path):
    db = vecdb.open(tmp_path / "db", map_size=1 << 19)  # tiny map: it grows while readers are inside it
    col = db.create_collection(
        "c", vectors={"v": vecdb.Dense(DIM, "l2", index=HNSWParams(index_threshold=600))}, payload={"b": "integer"}
    )
    checks = [0] * 4

    def write():
        for b in range(30):
            ids, x = _batch(b)
            col.upsert(ids, x, [{"b": b}] * BATCH)
            if b >= 3 and b % 2:
                col.delete(_batch(b - 3)[0])

    def read(slot):
        groups = {}
        for p in col.scroll(limit=100_000).points:
            groups.setdefault(p.payload["b"], []).append(p.id)
        for b, ids in groups.items():
            assert sorted(ids) == _batch(b)[0], f"batch {b} seen partially ({len(ids)} of {BATCH})"
        n = col.count()
        if n:
            hits = col.search("v", np.zeros(DIM), k=min(5, n))
            assert len(hits) == min(5, n)
        checks[slot] += 1
        time.sleep(0.002)  # readers in a zero-pause loop would only measure the GIL convoy

    run_threads(write, read, 4)
    assert min(checks) > 0 and db._env.map_size > 1 << 19
    db.close()


def test_reader_processes_and_threads_together_while_one_writer_writes(tmp_path):
    """Reader threads in the writer's process and read-only reader processes at once, while the map grows: every
    snapshot any of them reads holds whole batches only (tests/procs.py reader logic, threads do the same)."""
    size = 200
    path = tmp_path / "db"
    db = vecdb.open(path, map_size=1 << 20)  # small map: it grows while the other processes read
    col = db.create_collection("c", vectors={"v": vecdb.Dense(PDIM, "l2")}, payload={"b": "integer"})
    col.upsert(*batch(0, size))
    procs_py = str(Path(__file__).with_name("procs.py"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    readers = [
        subprocess.Popen(
            [sys.executable, procs_py, "reader", str(path), "90", str(size)], stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    stop = threading.Event()
    errors: list[BaseException] = []
    checks = [0] * 3
    written = [0]

    def writer():
        try:
            b = 1
            deadline = time.time() + 120
            while not stop.is_set() and time.time() < deadline:
                col.upsert(*batch(b, size))
                if b >= 2:
                    col.delete(batch(b - 2, size)[0])
                written[0] = b
                b += 1
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def reader(slot):
        try:
            while not stop.is_set():
                groups = {}
                for p in col.scroll(limit=100_000).points:
                    groups.setdefault(p.payload["b"], []).append(p.id)
                for b, ids in groups.items():
                    assert sorted(ids) == batch(b, size)[0], f"batch {b} seen partially ({len(ids)} of {size})"
                assert len(groups) <= 3, f"{len(groups)} batches visible at once"
                checks[slot] += 1
                time.sleep(0.005)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    outs = []
    try:
        for r in readers:
            out, _ = r.communicate(timeout=150)
            outs.append((r.returncode, out))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        for r in readers:
            if r.poll() is None:
                r.kill()
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors[0]
    for code, out in outs:
        assert code == 0, out
        _, n_checks, distinct = out.split()
        assert int(n_checks) >= 30 and int(distinct) >= 5, f"a reader process saw too little progress: {out}"
    assert min(checks) > 0 and written[0] > 5 and db._env.map_size > 1 << 20
    db.close()
