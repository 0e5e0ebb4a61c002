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


def test_the_read_write_lock_never_lets_an_exclusive_holder_meet_a_reader():
    """env._RWLock, whose shared side is a lock-free list append / pop: while readers take and drop shared holds
    in a tight loop, each exclusive hold (a remap, a close) must find no reader inside and keep new ones out until
    it ends; readers must get in between the exclusive holds, and nobody may hang."""
    from vecdb.storage.env import _RWLock

    rw = _RWLock()
    per_thread = [0] * 4
    errors, stop = [], threading.Event()
    exclusive_holds = [0]

    def reader(i):
        try:
            while not stop.is_set():
                rw.acquire_shared()
                per_thread[i] += 1
                try:
                    if exclusive_holds[0] < 0:  # marked by the exclusive side while it holds
                        errors.append("a reader inside an exclusive hold")
                finally:
                    rw.release_shared()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    for _ in range(200):
        with rw.exclusive():
            exclusive_holds[0] = -1  # readers that get in now report it
            if rw._holds:
                errors.append(f"{len(rw._holds)} shared holds inside an exclusive hold")
            time.sleep(0.0002)
            exclusive_holds[0] = 0
        time.sleep(0.0002)
        assert time.monotonic() < deadline, "the exclusive side hung"
    before = sum(per_thread)
    time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads), "a reader hung"
    assert not errors, errors[:3]
    assert sum(per_thread) > before > 0 and min(per_thread) > 0  # readers kept getting in
    assert rw._holds == []


def test_a_read_waiting_out_close_is_told_the_database_is_closed(tmp_path):
    """A read that finds the remap/close gate up waits for it; when what held it was close(), the read reports the
    closed database (ReadOnly), not a raw LMDB error, and leaves no hold behind."""
    from vecdb.errors import ReadOnly

    db = vecdb.open(tmp_path / "db")
    env = db._env
    got = []

    def read():
        try:
            env.end_read(env.begin_read())
            got.append("read")
        except Exception as e:  # noqa: BLE001 - the type is the assertion
            got.append(e)

    with env._write_lock, env._rw.exclusive():  # what close() holds while it closes
        t = threading.Thread(target=read, daemon=True)
        t.start()
        time.sleep(0.1)  # the reader is waiting on the gate
        env._closed = True
        env._env.close()
    t.join(10)
    assert not t.is_alive() and len(got) == 1 and isinstance(got[0], ReadOnly), got
    assert env._rw._holds == []
