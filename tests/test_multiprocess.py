"""Durability under SIGKILL and consistent snapshots for a second, read-only process (real processes)."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from procs import batch

import vecdb

PROCS = str(Path(__file__).with_name("procs.py"))


def _start(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    return subprocess.Popen([sys.executable, PROCS, *args], stdout=subprocess.PIPE, text=True, env=env)


def _wait_for_acks(proc: subprocess.Popen, n: int, timeout: float = 120) -> list[int]:
    acks = []
    deadline = time.time() + timeout
    while len(acks) < n:
        line = proc.stdout.readline()
        assert line, f"writer exited early with code {proc.poll()}"
        assert time.time() < deadline, "writer too slow"
        acks.append(int(line.split()[1]))
    return acks


def test_acknowledged_batches_survive_sigkill(tmp_path):
    path = str(tmp_path / "db")
    size = 1000
    rnd = random.Random(7)
    acked: list[int] = []
    start = 0
    for round_ in range(4):
        proc = _start("writer", path, str(start), str(size), "keep")
        acked += _wait_for_acks(proc, rnd.randint(2, 6))
        time.sleep(rnd.uniform(0, 0.05))  # land the kill at a random point of the next transaction
        proc.kill()
        # Acks printed after our last read but before the kill count as acknowledged too.
        rest = proc.stdout.read()
        acked += [int(line.split()[1]) for line in rest.splitlines() if line.startswith("ACK")]
        proc.wait()
        assert proc.returncode == -signal.SIGKILL

        with vecdb.open(path) as db:
            c = db["c"]
            present = {}
            for p in c.scroll(limit=100_000).points:
                present.setdefault(p.payload["b"], set()).add(p.id)
            for b in acked:
                assert b in present, f"round {round_}: acknowledged batch {b} lost"
            for b, ids in present.items():
                assert ids == set(batch(b, size)[0]), f"batch {b} is partial: {len(ids)} of {size} points"
            assert c.count() == size * len(present)
            # the vectors of every batch are exactly those written
            for b in present:
                ids, vecs, _ = batch(b, size)
                got = c.get(ids[:50], with_vectors=True)
                np.testing.assert_array_equal(np.stack([p.vectors["v"] for p in got]), vecs[:50])
            start = max(present) + 1


def test_read_only_process_sees_consistent_snapshots(tmp_path):
    path = str(tmp_path / "db")
    size = 300
    writer = _start("writer", path, "0", str(size), "churn")
    try:
        _wait_for_acks(writer, 1)
        reader = _start("reader", path, "60", str(size))
        out, _ = reader.communicate(timeout=120)
    finally:
        writer.kill()
        writer.wait()
    assert reader.returncode == 0, out
    _, checks, distinct = out.split()
    assert int(checks) >= 30 and int(distinct) >= 5, f"the reader should have seen the writer progress: {out}"
