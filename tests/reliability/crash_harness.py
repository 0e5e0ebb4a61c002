"""Crash-safety harness: a worker process runs random writes against a database and is killed with SIGKILL at
random moments; after each kill the database is reopened and checked against a model of the acknowledged writes.

Journal protocol (the worker's own file, fsync'd): "BEGIN <op json>" before an operation, "ACK" after it
returns. The database must equal the model after every acknowledged operation, possibly plus the one operation
in flight (begun, not acknowledged) — and nothing in between: no partial batch, no half-applied delete. After the
check the driver resolves the in-flight operation in the journal ("ACK" when the database shows it applied,
"ABORT" when not), so the model of the next round starts from what the database really holds.

Checks after each kill: ids, versions (payload) and vectors exactly; count; graph structure (valid ids, levels,
watermark) and self-recall through the persisted graph; filter results (payload index) against the model.
Run: python tests/reliability/crash_harness.py --kills 200 (the on-demand figure) or tests/test_crash.py.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DIM = 16
POOL = 3000  # ids are drawn from [0, POOL)


def vector(pid: int, version: int) -> np.ndarray:
    return np.random.default_rng(pid * 1_000_003 + version).normal(size=DIM).astype(np.float32)


# ---------------------------------------------------------------------- worker
def worker(db_path: str, journal: str, seed: int, start_op: int) -> None:
    import vecdb
    from vecdb.params import HNSWParams

    db = vecdb.open(db_path, map_size=1 << 22)  # small map: growth happens under the kills too
    col = db.create_collection(
        "c",
        vectors={"v": vecdb.Dense(DIM, "l2", index=HNSWParams(m=8, ef_construction=40, index_threshold=400))},
        payload={"version": "integer", "parity": "keyword"},
        exist_ok=True,
    )
    rnd = random.Random(seed)
    jf = open(journal, "a")
    op_no = start_op
    while True:
        r = rnd.random()
        if r < 0.65:
            n = rnd.randint(1, 300)
            ids = sorted(rnd.sample(range(POOL), n))
            op = {"op": "upsert", "no": op_no, "ids": ids, "version": op_no}
        elif r < 0.85:
            op = {"op": "delete", "no": op_no, "ids": rnd.sample(range(POOL), rnd.randint(1, 200))}
        elif r < 0.95:
            op = {"op": "build_index", "no": op_no}
        else:
            op = {"op": "compact", "no": op_no}
        jf.write("BEGIN " + json.dumps(op) + "\n")
        jf.flush()
        os.fsync(jf.fileno())
        if op["op"] == "upsert":
            v = op["version"]
            col.upsert(
                op["ids"],
                np.stack([vector(i, v) for i in op["ids"]]),
                [{"version": v, "parity": "even" if i % 2 == 0 else "odd"} for i in op["ids"]],
            )
        elif op["op"] == "delete":
            col.delete(op["ids"])
        elif op["op"] == "build_index":
            col.build_index(progress=False, chunk=700)
        else:
            col.compact(progress=False)
        jf.write("ACK\n")
        jf.flush()
        os.fsync(jf.fileno())
        op_no += 1


# ---------------------------------------------------------------------- model and checks
def read_journal(journal: str) -> tuple[list[dict], dict | None]:
    acked, pending = [], None
    if not os.path.exists(journal):
        return acked, None
    for line in Path(journal).read_text().splitlines():
        if line.startswith("BEGIN "):
            try:
                pending = json.loads(line[6:])
            except ValueError:  # a torn last line: the op never began for the database either
                pending = None
        elif line == "ACK" and pending is not None:
            acked.append(pending)
            pending = None
        elif line == "ABORT":
            pending = None
    return acked, pending


def _end_torn_line(journal: str) -> None:
    """A worker killed mid-write leaves a line without its newline: end it, so the next run's lines stay whole."""
    if os.path.exists(journal) and os.path.getsize(journal):
        with open(journal, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")


def _next_op_no(journal: str) -> int:
    """1 + the highest op number ever begun (so a new run never reuses the number of an in-flight op)."""
    last = -1
    if os.path.exists(journal):
        for line in Path(journal).read_text().splitlines():
            if line.startswith("BEGIN "):
                try:
                    last = max(last, json.loads(line[6:])["no"])
                except ValueError:
                    pass
    return last + 1


def apply(model: dict, op: dict) -> None:
    if op["op"] == "upsert":
        for i in op["ids"]:
            model[i] = op["version"]
    elif op["op"] == "delete":
        for i in op["ids"]:
            model.pop(i, None)


def check(db_path: str, journal: str) -> dict:
    """Raise AssertionError on any inconsistency; return figures of what was checked."""
    import vecdb
    from vecdb import filters as F
    from vecdb.params import SearchParams

    acked, pending = read_journal(journal)
    model: dict[int, int] = {}
    for op in acked:
        apply(model, op)
    candidates = [model]
    if pending is not None:
        nxt = dict(model)
        apply(nxt, pending)
        candidates.append(nxt)
    with vecdb.open(db_path) as db:
        if not db.has_collection("c"):
            assert not acked, "the collection vanished after acknowledged writes"
            return {"points": 0, "pending": pending is not None, "applied": False}
        col = db["c"]
        got = {}
        for p in col.scroll(limit=100_000, with_vectors=True).points:
            got[p.id] = p
        versions = {i: p.payload["version"] for i, p in got.items()}
        assert versions in candidates, _diff(versions, candidates)
        # a pending op that changes nothing (e.g. a build) is resolved as applied: either reading is the same
        applied = pending is not None and versions == candidates[-1]
        assert col.count() == len(got)
        for i, p in got.items():
            np.testing.assert_array_equal(p.vectors["v"], vector(i, versions[i]), err_msg=f"vector of {i}")
            assert p.payload["parity"] == ("even" if i % 2 == 0 else "odd")
        if got:
            _check_graph(col)
            ids = list(got)[:200]
            q = np.stack([vector(i, versions[i]) for i in ids])
            hits = col.search("v", q, k=1, with_payload=False)
            self_found = np.mean([h.ids[0] == i for h, i in zip(hits, ids)])
            assert self_found >= 0.98, f"self-recall through the graph {self_found:.3f}"
            f = F.eq("parity", "even") & F.range_("version", gte=0)
            exact = col.search("v", q[:5], k=20, filter=f, params=SearchParams(exact=True), with_payload=False)
            evens = {i for i in got if i % 2 == 0}
            for h in exact:
                assert set(h.ids) <= evens and len(h.ids) == min(20, len(evens)), "payload index disagrees"
    return {"points": len(got), "acked_ops": len(acked), "pending": pending is not None, "applied": applied}


def _check_graph(col) -> None:
    fs = col._fields["v"]
    with col._env.read() as txn:
        st = col._state(txn)
        meta = fs.index.store.meta(txn, col._t["aux"])
        g, _ = fs.index.store.load(txn, col._t["aux"], col._t["block"], fs.index.metric_code, st.next_row)
    assert meta.n_indexed <= st.next_row, "graph watermark beyond the rows"
    assert meta.epoch == st.epoch, "graph from another epoch"
    n = g.n_indexed
    if n == 0:
        return
    deg = g.links0[:n, 0]
    assert (deg >= 0).all() and (deg <= g.m0).all(), "level-0 degree out of range"
    lists = g.links0[:n, 1:]
    used = np.arange(lists.shape[1])[None, :] < deg[:, None]
    assert ((lists[used] >= 0) & (lists[used] < n)).all(), "a level-0 link points outside the graph"
    assert 0 <= g.ep < n and g.levels[g.ep] == g.max_level, "entry point inconsistent"


def _diff(got: dict, candidates: list[dict]) -> str:
    want = candidates[0]
    missing = [i for i in want if i not in got][:5]
    extra = [i for i in got if i not in want][:5]
    stale = [i for i in got if i in want and got[i] != want[i]][:5]
    return f"database != model: missing {missing}, unexpected {extra}, wrong version {stale} ({len(candidates)} states)"


# ---------------------------------------------------------------------- driver
def run(kills: int, workdir: str, seed: int = 0, max_wait: float = 1.5, log=print) -> dict:
    db_path = os.path.join(workdir, "db")
    journal = os.path.join(workdir, "journal")
    rnd = random.Random(seed)
    stats = {"kills": 0, "max_points": 0, "ops_acked": 0}
    for k in range(kills):
        _end_torn_line(journal)
        start = _next_op_no(journal)
        # a new journal segment per run: ops numbered from where the last acknowledged one left off
        size = os.path.getsize(journal) if os.path.exists(journal) else 0
        proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", db_path, journal, str(seed * 100_003 + k), str(start)]
        )
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:  # wait until the worker is writing
            if os.path.exists(journal) and os.path.getsize(journal) > size:
                break
            time.sleep(0.01)
        time.sleep(rnd.uniform(0, max_wait))  # then land the kill anywhere in what follows
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.returncode != -signal.SIGKILL:
            raise AssertionError(f"worker exited with {proc.returncode} before the kill")
        res = check(db_path, journal)
        if res["pending"]:
            with open(journal, "a") as jf:
                jf.write("ACK\n" if res["applied"] else "ABORT\n")
                jf.flush()
                os.fsync(jf.fileno())
        stats["kills"] += 1
        stats["max_points"] = max(stats["max_points"], res["points"])
        stats["ops_acked"] = res.get("acked_ops", 0)
        log(f"kill {k + 1}/{kills}: {res}")
    return stats


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kills", type=int, default=200)
    p.add_argument("--dir", default=None)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    import tempfile

    workdir = a.dir or tempfile.mkdtemp(prefix="vecdb-crash-")
    t0 = time.time()
    stats = run(a.kills, workdir, a.seed)
    stats["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
