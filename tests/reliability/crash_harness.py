"""Crash-safety harness: a writer runs random operations against a database and is killed with SIGKILL at random
moments; after each kill the database is reopened and checked against a model of the acknowledged writes.

Modes. embedded: the writer process opens the database itself and is the process killed. server: a `vecdb serve`
process owns the database and the writer is a gRPC client; the SERVER is SIGKILLed (the client then stops at its
first Unavailable), and the directory is reopened and checked the same way.

Operations: upserts (1-300 points, new versions of ids drawn from a pool), deletes, index builds (in chunks,
each its own transaction), compactions, and, when the engine offers them (capability check on the collection,
see OPTIONAL_OPS), compression training and drift-map fits.

Journal protocol (the writer's own file, fsync'd): "BEGIN <op json>" before an operation, "ACK" after it returns.
The database must equal the model after every acknowledged operation, possibly plus the one in flight (begun, not
acknowledged), and nothing in between: no partial batch, no half-applied delete. After the check the driver
resolves the in-flight operation in the journal ("ACK" when the database shows it applied, "ABORT" when not), so
the model of the next round starts from what the database really holds.

Checks after each kill: ids, versions (payload) and vectors exactly; count; graph structure (valid links, levels,
watermark, epoch); self-recall through the persisted graph; the persisted graph against a graph REBUILT from the
same rows in a fresh collection (recall@10 of both against exact search above the floor, the persisted one not
worse than the rebuilt one by more than a margin); exact search identical in both collections; filtered search
(payload index) identical to a brute-force evaluation of the filter over the model.

    python tests/reliability/crash_harness.py --kills 200 --mode embedded|server   # prints JSON
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: the floors table
from floors import floor  # noqa: E402

DIM = 16
POOL = 3000  # ids are drawn from [0, POOL)
MAP_SIZE = 1 << 22  # a small initial map: growth happens under the kills too
RECALL_MARGIN = 0.05  # how much worse than a fresh rebuild the persisted graph may search
EXIT_UNAVAILABLE = 3  # the client writer's exit code when the server went away under it
MODES = ("embedded", "server")


def vector(pid: int, version: int) -> np.ndarray:
    return np.random.default_rng(pid * 1_000_003 + version).normal(size=DIM).astype(np.float32)


def schema_kwargs() -> dict:
    import vecdb
    from vecdb.params import HNSWParams

    index = HNSWParams(m=8, ef_construction=40, index_threshold=400)
    dense = inspect.signature(vecdb.Dense).parameters
    # An int8 codec trained by the upsert that reaches 200 live points (engines with compressed fields): its codes
    # are written in the same transactions as the vectors, and checked against them after every kill.
    extra = {"compression": {"kind": "int8", "train_size": 200}} if "compression" in dense else {}
    return {
        "vectors": {"v": vecdb.Dense(DIM, "l2", index=index, **extra)},
        "payload": {"version": "integer", "parity": "keyword"},
    }


# ---------------------------------------------------------------------- optional operations
def _method(col, names: tuple[str, ...]):
    for name in names:
        fn = getattr(col, name, None)
        if callable(fn):
            return fn
    return None


def _call(fn, **kwargs):
    """Call fn with the keyword arguments its signature accepts (the engine's exact signatures are not settled)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return fn(**kwargs)
    return fn(**{k: v for k, v in kwargs.items() if k in params})


def _fit_compression(col, op: dict) -> None:
    fn = _method(col, ("train_compression", "fit_compression", "set_compression"))
    _call(fn, field="v", spec={"kind": "int8"}, seed=op["no"] % 1000, progress=False)


def _check_codes(col, got: dict) -> None:
    """Every live point's stored codes are the trained codec's encoding of its stored vector (no code row left
    behind by a kill, a compaction or a retraining), and a search on the codes finds each point itself."""
    cf = getattr(col, "_codes", {}).get("v")
    if cf is None:
        return
    from vecdb.ids import encode_id
    from vecdb.params import SearchParams

    with col._env.read() as txn:
        st = col._state(txn)
        t = cf.trained(txn, col._t["aux"])
        if t is None:
            return
        ids = list(got)
        rows = [r for _, r in col._rows_of(txn, [encode_id(i) for i in ids])]
        codes = t.column.get_rows(txn, col._t["block"], rows)
        assert max(rows) < st.next_row
    x = np.stack([got[i].vectors["v"] for i in ids])
    np.testing.assert_array_equal(codes, t.codec.encode(x), err_msg="stored codes differ from the vectors' codes")
    sample = ids[:100]
    hits = col.search("v", x[:100], k=1, with_payload=False, params=SearchParams(use_codes=True))
    assert hits[0].explain["path"] == "codes+rescore"
    found = np.mean([h.ids[0] == i for h, i in zip(hits, sample)])
    assert found >= 0.98, f"self-recall through the codes {found:.3f}"


def _rotation(seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(DIM, DIM)))
    return q.astype(np.float32)


def _fit_drift_map(col, op: dict) -> None:
    """Queries of model version "q2" are the index version's vectors rotated by a fixed orthogonal matrix: a map
    fitted on pairs of stored points must undo it (checked after each kill through search(model_version="q2"))."""
    ids = list(range(op["no"] % 100, POOL, 7))[:300]
    old = np.stack([vector(i, 0) for i in ids])
    new = old @ _rotation(0).T
    col.fit_query_map("v", "q2", new, old, kind="procrustes", seed=0, progress=False)


def _check_drift_map(col, got: dict) -> None:
    ids = list(got)[:50]
    q = np.stack([got[i].vectors["v"] for i in ids]) @ _rotation(0).T
    hits = col.search("v", q, k=1, with_payload=False, model_version="q2")
    found = np.mean([h.ids[0] == i for h, i in zip(hits, ids)])
    assert found >= 0.9, f"self-recall through the drift map {found:.2f}"


# name -> (probe on a collection, run, check after reopening when the op was ever acknowledged or None)
OPTIONAL_OPS = {
    "fit_compression": (
        lambda c: _method(c, ("train_compression", "fit_compression", "set_compression")) is not None,
        _fit_compression,
        None,
    ),
    "fit_drift_map": (
        lambda c: _method(c, ("fit_query_map",)) is not None,
        _fit_drift_map,
        _check_drift_map,
    ),
}


def optional_ops(col) -> list[str]:
    """The optional operations this engine offers (empty until the lead's compression/drift integration lands)."""
    return [name for name, (probe, _, _) in OPTIONAL_OPS.items() if probe(col)]


# ---------------------------------------------------------------------- worker
def next_op(rnd: random.Random, op_no: int, extra: list[str]) -> dict:
    r = rnd.random()
    if extra and r >= 0.97:
        return {"op": rnd.choice(extra), "no": op_no}
    if r < 0.65:
        ids = sorted(rnd.sample(range(POOL), rnd.randint(1, 300)))
        return {"op": "upsert", "no": op_no, "ids": ids, "version": op_no}
    if r < 0.85:
        return {"op": "delete", "no": op_no, "ids": rnd.sample(range(POOL), rnd.randint(1, 200))}
    if r < 0.95:
        return {"op": "build_index", "no": op_no}
    return {"op": "compact", "no": op_no}


def execute(col, op: dict) -> None:
    kind = op["op"]
    if kind == "upsert":
        v = op["version"]
        col.upsert(
            op["ids"],
            np.stack([vector(i, v) for i in op["ids"]]),
            [{"version": v, "parity": "even" if i % 2 == 0 else "odd"} for i in op["ids"]],
        )
    elif kind == "delete":
        col.delete(op["ids"])
    elif kind == "build_index":
        col.build_index(progress=False, chunk=700)
    elif kind == "compact":
        col.compact(progress=False)
    else:
        OPTIONAL_OPS[kind][1](col, op)


def worker(mode: str, target: str, journal: str, seed: int, start_op: int) -> None:
    import vecdb

    if mode == "embedded":
        db = vecdb.open(target, map_size=MAP_SIZE)
    else:
        import vecdb_client

        db = vecdb_client.connect(target, retries=1, timeout=300)
    col = db.create_collection("c", **schema_kwargs(), exist_ok=True)
    extra = optional_ops(col)
    rnd = random.Random(seed)
    jf = open(journal, "a")  # noqa: SIM115 - open until the process dies
    op_no = start_op
    while True:
        op = next_op(rnd, op_no, extra)
        jf.write("BEGIN " + json.dumps(op) + "\n")
        jf.flush()
        os.fsync(jf.fileno())
        try:
            execute(col, op)
        except vecdb.errors.Unavailable:
            if mode == "server":  # the server was killed under us: the op stays unacknowledged
                os._exit(EXIT_UNAVAILABLE)
            raise
        jf.write("ACK\n")
        jf.flush()
        os.fsync(jf.fileno())
        op_no += 1


# ---------------------------------------------------------------------- model
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
    """A writer killed mid-write leaves a line without its newline: end it, so the next run's lines stay whole."""
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


# ---------------------------------------------------------------------- checks
def check(db_path: str, journal: str, rnd: random.Random | None = None, rebuild: bool = True) -> dict:
    """Raise AssertionError on any inconsistency; return figures of what was checked."""
    import vecdb

    acked, pending = read_journal(journal)
    model: dict[int, int] = {}
    for op in acked:
        apply(model, op)
    candidates = [model]
    if pending is not None:
        nxt = dict(model)
        apply(nxt, pending)
        candidates.append(nxt)
    out = {"points": 0, "acked_ops": len(acked), "pending": pending is not None, "applied": False}
    with vecdb.open(db_path) as db:
        if not db.has_collection("c"):
            assert not acked, "the collection vanished after acknowledged writes"
            return out
        col = db["c"]
        got = {p.id: p for p in col.scroll(limit=100_000, with_vectors=True).points}
        versions = {i: p.payload["version"] for i, p in got.items()}
        assert versions in candidates, _diff(versions, candidates)
        # a pending op that changes nothing (e.g. a build) is resolved as applied: either reading is the same
        out["applied"] = pending is not None and versions == candidates[-1]
        if pending is not None and pending["op"] == "fit_drift_map":
            # invisible in the point versions: applied only if the map is there (else the run would record an ACK
            # for a fit the kill interrupted, and the next checks would look for a map that was never committed)
            out["applied"] = "q2" in col.model_versions("v")["maps"]
        out["points"] = len(got)
        assert col.count() == len(got)
        for i, p in got.items():
            np.testing.assert_array_equal(p.vectors["v"], vector(i, versions[i]), err_msg=f"vector of {i}")
            assert p.payload["parity"] == ("even" if i % 2 == 0 else "odd")
        if got:
            _check_graph(col)
            _check_self_recall(col, got, versions)
            _check_payload_index(col, got, versions, rnd or random.Random(0))
            _check_codes(col, got)  # the codec trains itself on upserts: checked whether or not a retrain was acked
            if rebuild:
                out.update(_check_against_rebuild(col, got, db_path, rnd or random.Random(0)))
            acked_kinds = {op["op"] for op in acked}
            for name, (_, _, check_fn) in OPTIONAL_OPS.items():
                if check_fn is not None and name in acked_kinds:
                    check_fn(col, got)
    return out


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


def _check_self_recall(col, got: dict, versions: dict) -> None:
    ids = list(got)[:200]
    q = np.stack([vector(i, versions[i]) for i in ids])
    hits = col.search("v", q, k=1, with_payload=False)
    found = np.mean([h.ids[0] == i for h, i in zip(hits, ids)])
    assert found >= 0.98, f"self-recall through the graph {found:.3f}"


def _brute_force(x: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> tuple[list[set], np.ndarray]:
    d = ((q[:, None, :].astype(np.float64) - x[None, :, :]) ** 2).sum(-1)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return [set(ids[o].tolist()) for o in order], np.take_along_axis(d, order, axis=1)


def _check_payload_index(col, got: dict, versions: dict, rnd: random.Random) -> None:
    """Filtered exact search (answered from the payload index) against the filter evaluated over the model."""
    from vecdb import filters as F
    from vecdb.params import SearchParams

    threshold = sorted(versions.values())[len(versions) // 2]
    parity = rnd.choice(["even", "odd"])
    f = F.eq("parity", parity) & F.range_("version", gte=threshold)
    match = np.array([i for i in got if (i % 2 == 0) == (parity == "even") and versions[i] >= threshold])
    q = np.random.default_rng(rnd.randrange(2**32)).normal(size=(5, DIM)).astype(np.float32)
    hits = col.search("v", q, k=20, filter=f, params=SearchParams(exact=True), with_payload=False)
    if not match.size:
        assert all(len(h.ids) == 0 for h in hits), "the payload index matches points the model does not"
        return
    x = np.stack([got[i].vectors["v"] for i in match])
    want, want_d = _brute_force(x, match, q, 20)
    for h, w, wd in zip(hits, want, want_d):
        assert len(h.ids) == min(20, match.size), f"filtered search gave {len(h.ids)} of {min(20, match.size)}"
        if set(h.ids) != w:  # ties at the boundary may swap equal-distance ids
            np.testing.assert_allclose(np.sort(np.asarray(h.scores) ** 2), wd, rtol=1e-4, err_msg="payload index")


def _recall(found, exact, k: int) -> float:
    from vecdb.evaluation import recall_at_k

    fd = np.array(
        [np.pad(np.asarray(h.scores, np.float64), (0, k - len(h.scores)), constant_values=np.inf) for h in found]
    )
    td = np.array([np.asarray(h.scores, np.float64) for h in exact])
    return recall_at_k(fd, td, k)


def _check_against_rebuild(col, got: dict, db_path: str, rnd: random.Random) -> dict:
    """The persisted graph must search about as well as one built from scratch over the same rows."""
    import vecdb
    from vecdb.params import SearchParams

    k = min(10, len(got))
    ids = list(got)
    x = np.stack([got[i].vectors["v"] for i in ids])
    qrng = np.random.default_rng(rnd.randrange(2**32))
    q = np.concatenate(
        [qrng.normal(size=(30, DIM)), x[qrng.integers(0, len(ids), 20)] + 0.1 * qrng.normal(size=(20, DIM))]
    )
    q = q.astype(np.float32)
    fresh_dir = tempfile.mkdtemp(prefix="rebuild-", dir=os.path.dirname(db_path))
    try:
        with vecdb.open(fresh_dir, sync=False) as fresh_db:
            fresh = fresh_db.create_collection("c", **schema_kwargs())
            fresh.upsert(ids, x, [got[i].payload for i in ids])
            fresh.build_index(progress=False)
            exact = col.search("v", q, k=k, params=SearchParams(exact=True), with_payload=False)
            exact_fresh = fresh.search("v", q, k=k, params=SearchParams(exact=True), with_payload=False)
            for a, b in zip(exact, exact_fresh):  # the same rows: the same exact answers
                np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, err_msg="exact search differs from a rebuild")
            persisted = _recall(col.search("v", q, k=k, with_payload=False), exact, k)
            rebuilt = _recall(fresh.search("v", q, k=k, with_payload=False), exact, k)
    finally:
        shutil.rmtree(fresh_dir, ignore_errors=True)
    lo = floor("hnsw", "none", "crash-harness")
    assert persisted >= lo, f"recall@{k} through the persisted graph {persisted:.3f} < floor {lo}"
    assert rebuilt >= lo, f"recall@{k} through a rebuilt graph {rebuilt:.3f} < floor {lo}"
    assert persisted >= rebuilt - RECALL_MARGIN, f"persisted graph recall {persisted:.3f} vs rebuilt {rebuilt:.3f}"
    return {"recall_persisted": round(persisted, 4), "recall_rebuilt": round(rebuilt, 4)}


def _diff(got: dict, candidates: list[dict]) -> str:
    want = candidates[0]
    missing = [i for i in want if i not in got][:5]
    extra = [i for i in got if i not in want][:5]
    stale = [i for i in got if i in want and got[i] != want[i]][:5]
    return f"database != model: missing {missing}, unexpected {extra}, wrong version {stale} ({len(candidates)} states)"


# ---------------------------------------------------------------------- driver
def _wait_for_growth(journal: str, size: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(journal) and os.path.getsize(journal) > size:
            return
        time.sleep(0.01)
    raise AssertionError(f"the writer did not start writing within {timeout:.0f}s (exit code {proc.poll()})")


def _start_server(db_path: str, log) -> tuple[subprocess.Popen, int]:
    cmd = [sys.executable, "-m", "vecdb_server", "--data", db_path, "--port", "0", "--grace", "0"]
    cmd += ["--map-size-mb", str(MAP_SIZE / 2**20), "--log-level", "WARNING", "--workers", "4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    line = proc.stdout.readline()  # "vecdb serving <path> on <host>:<port>", or EOF if it died
    if "vecdb serving" not in line:
        proc.kill()
        proc.wait()
        raise AssertionError(f"the server did not start (exit code {proc.returncode}): {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


def _kill_round(mode: str, db_path: str, journal: str, seed: int, start: int, wait: float, stderr) -> None:
    size = os.path.getsize(journal) if os.path.exists(journal) else 0
    worker_cmd = [sys.executable, __file__, "--worker", mode]
    if mode == "embedded":
        proc = subprocess.Popen([*worker_cmd, db_path, journal, str(seed), str(start)], stderr=stderr)
        _wait_for_growth(journal, size, proc)
        time.sleep(wait)  # then land the kill anywhere in what follows
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.returncode != -signal.SIGKILL:
            raise AssertionError(f"the writer exited with {proc.returncode} before the kill")
        return
    server, port = _start_server(db_path, stderr)
    client = subprocess.Popen([*worker_cmd, f"127.0.0.1:{port}", journal, str(seed), str(start)], stderr=stderr)
    try:
        _wait_for_growth(journal, size, client)
        time.sleep(wait)
        server.send_signal(signal.SIGKILL)
        server.wait()
        if server.returncode != -signal.SIGKILL:
            raise AssertionError(f"the server exited with {server.returncode} before the kill")
        try:  # the client stops at its first Unavailable; a client still blocked after that is killed
            client.wait(timeout=60)
        except subprocess.TimeoutExpired:
            client.kill()
            client.wait()
        if client.returncode not in (EXIT_UNAVAILABLE, -signal.SIGKILL):
            raise AssertionError(f"the client writer failed with exit code {client.returncode} (not Unavailable)")
    finally:
        for p in (server, client):
            if p.poll() is None:
                p.kill()
                p.wait()


def run(
    kills: int,
    workdir: str,
    seed: int = 0,
    max_wait: float = 1.5,
    mode: str = "embedded",
    rebuild_every: int = 1,
    log=print,
) -> dict:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    db_path = os.path.join(workdir, "db")
    journal = os.path.join(workdir, "journal")
    rnd = random.Random(seed)
    stats = {"mode": mode, "kills": 0, "max_points": 0, "ops_acked": 0, "pending_applied": 0, "pending_lost": 0}
    recalls: list[tuple[float, float]] = []
    with open(os.path.join(workdir, "stderr.log"), "a") as stderr:
        for k in range(kills):
            _end_torn_line(journal)
            start = _next_op_no(journal)
            wait = rnd.uniform(0, max_wait)
            _kill_round(mode, db_path, journal, seed * 100_003 + k, start, wait, stderr)
            res = check(db_path, journal, rnd, rebuild=k % rebuild_every == 0)
            if res["pending"]:
                stats["pending_applied" if res["applied"] else "pending_lost"] += 1
                with open(journal, "a") as jf:
                    jf.write("ACK\n" if res["applied"] else "ABORT\n")
                    jf.flush()
                    os.fsync(jf.fileno())
            if "recall_persisted" in res:
                recalls.append((res["recall_persisted"], res["recall_rebuilt"]))
            stats["kills"] += 1
            stats["max_points"] = max(stats["max_points"], res["points"])
            stats["ops_acked"] = res["acked_ops"]
            log(f"kill {k + 1}/{kills}: {res}")
    acked, _ = read_journal(journal)
    stats["ops_by_kind"] = {}
    for op in acked:
        stats["ops_by_kind"][op["op"]] = stats["ops_by_kind"].get(op["op"], 0) + 1
    stats["acked_writes_lost"] = 0  # every check above passed: any loss would have raised
    if recalls:
        arr = np.array(recalls)
        stats["recall_persisted_min"], stats["recall_rebuilt_min"] = float(arr[:, 0].min()), float(arr[:, 1].min())
        stats["recall_persisted_mean"], stats["recall_rebuilt_mean"] = float(arr[:, 0].mean()), float(arr[:, 1].mean())
    stats["optional_ops"] = _probe_optional_ops(db_path)
    return stats


def _probe_optional_ops(db_path: str) -> list[str]:
    import vecdb

    with vecdb.open(db_path) as db:
        return optional_ops(db["c"]) if db.has_collection("c") else []


def main(argv: list[str] | None = None) -> dict | None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        worker(argv[1], argv[2], argv[3], int(argv[4]), int(argv[5]))
        return None
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kills", type=int, default=200)
    p.add_argument("--mode", choices=MODES, default="embedded")
    p.add_argument("--dir", default=None, help="work directory (default: a new temporary one, kept)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-wait", type=float, default=1.5, help="seconds: kills land uniformly in [0, this]")
    p.add_argument("--rebuild-every", type=int, default=1, help="compare with a fresh rebuild every N kills")
    p.add_argument("--save", action="store_true", help="also save the figures under benchmarks/results/")
    a = p.parse_args(argv)
    workdir = a.dir or tempfile.mkdtemp(prefix=f"vecdb-crash-{a.mode}-")
    t0 = time.time()
    stats = run(a.kills, workdir, a.seed, a.max_wait, a.mode, a.rebuild_every, log=lambda m: print(m, file=sys.stderr))
    stats["seconds"] = round(time.time() - t0, 1)
    stats["workdir"] = workdir
    print(json.dumps(stats))
    if a.save:
        from benchmarks.common import save

        print(save("reliability_crash", {"mode": a.mode, "kills": a.kills, "seed": a.seed}, stats))
    return stats


if __name__ == "__main__":
    main()
