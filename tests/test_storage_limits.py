"""A full disk, a full map, damaged files: clear errors, nothing corrupted, reads keep working, writes resume."""

import os
import shutil
import subprocess
import sys
import uuid

import numpy as np
import pytest

import vecdb


@pytest.fixture
def small_disk(tmp_path):
    """A real 12 MiB filesystem (tmpfs); skipped where mounting is not allowed."""
    mnt = tmp_path / f"tiny-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_disk_full_gives_storage_full_and_recovers(small_disk):
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * (4 << 20))
    rng = np.random.default_rng(0)
    with vecdb.open(small_disk / "db", map_size=1 << 30) as db:
        col = db.create_collection("c", vectors={"v": vecdb.Dense(64, "l2", index=None)}, payload={"b": "integer"})
        n = 0
        with pytest.raises(vecdb.StorageFull, match="disk .* is full"):
            for _ in range(100):
                col.upsert(np.arange(n, n + 1000), rng.normal(size=(1000, 64)), [{"b": n}] * 1000)
                n += 1000
        assert col.count() == n  # the failed batch left nothing
        assert len(col.search("v", np.zeros(64), k=3)) == 3  # reads keep working
        os.remove(ballast)  # free space: writes resume
        col.upsert(np.arange(n, n + 1000), rng.normal(size=(1000, 64)), [{"b": n}] * 1000)
        assert col.count() == n + 1000
    with vecdb.open(small_disk / "db") as db:
        assert db["c"].count() == n + 1000


def _damaged_open(path: str) -> subprocess.CompletedProcess:
    code = (
        "import sys, vecdb\n"
        "try:\n"
        "    db = vecdb.open(sys.argv[1], verify=True)\n"
        "    for name in db.list_collections():\n"
        "        c = db[name]; c.count(); c.scroll(limit=10_000); c.search('v', [1.0] * 8, k=1)\n"
        "    print('opened')\n"
        "except vecdb.VecDBError as e:\n"
        "    print('error', type(e).__name__, e)\n"
    )
    return subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, timeout=120)


def _make_db(path):
    with vecdb.open(path) as db:
        col = db.create_collection("c", vectors={"v": vecdb.Dense(8, "l2", index=None)}, payload={"g": "keyword"})
        col.upsert(list(range(500)), np.random.default_rng(1).normal(size=(500, 8)), [{"g": "x"}] * 500)


@pytest.mark.parametrize("damage", ["truncate", "zero_meta", "garbage_file", "empty_file"])
def test_damaged_files_give_a_clear_error_never_a_crash(tmp_path, damage):
    path = tmp_path / "db"
    _make_db(path)
    data = path / "data.mdb"
    if damage == "truncate":
        with open(data, "r+b") as f:
            f.truncate(4096 + 100)
    elif damage == "zero_meta":
        with open(data, "r+b") as f:
            f.write(b"\0" * 8192)
    elif damage == "garbage_file":
        data.write_bytes(os.urandom(64 * 1024))
    elif damage == "empty_file":
        data.write_bytes(b"")
    r = _damaged_open(str(path))
    assert r.returncode == 0, f"the process died (code {r.returncode}): {r.stderr[-500:]}"
    assert r.stdout.startswith("error CorruptDatabase"), r.stdout


def test_flipped_bytes_never_kill_the_process(tmp_path):
    """Random damage inside data pages, opened with verify=True: LMDB keeps no checksums, so a flip may go
    unnoticed (garbage values) or be reported; what must never happen is a crash of the process. (Without verify,
    a flipped length byte can make a later read touch memory past the end of the file: SIGBUS.)"""
    path = tmp_path / "db"
    _make_db(path)
    src = path / "data.mdb"
    rng = np.random.default_rng(0)
    outcomes = []
    for trial in range(int(os.environ.get("VECDB_FLIP_TRIALS", "6"))):
        copy = tmp_path / f"copy{trial}"
        shutil.copytree(path, copy)
        raw = bytearray((copy / "data.mdb").read_bytes())
        for pos in rng.integers(8192, len(raw), size=32):  # leave the two meta pages alone
            raw[pos] ^= 0xFF
        (copy / "data.mdb").write_bytes(bytes(raw))
        r = _damaged_open(str(copy))
        assert r.returncode == 0, f"trial {trial}: the process died (code {r.returncode}): {r.stderr[-400:]}"
        outcomes.append(r.stdout.split()[0])
    assert src.exists() and set(outcomes) <= {"opened", "error"}


def _fill_until_full(col, rng, start: int = 0) -> int:
    """Upsert batches until StorageFull; returns the number of points stored (the failed batch left nothing)."""
    n = start
    with pytest.raises(vecdb.StorageFull, match="maximum size"):
        for _ in range(1000):
            col.upsert(np.arange(n, n + 500), rng.normal(size=(500, 64)), [{"b": n}] * 500)
            n += 500
    return n


def test_map_full_gives_storage_full_reads_keep_working_and_writes_resume_when_the_map_may_grow(tmp_path):
    path = tmp_path / "db"
    rng = np.random.default_rng(0)
    with vecdb.open(path, map_size=1 << 20, max_map_size=4 << 20) as db:
        col = db.create_collection("c", vectors={"v": vecdb.Dense(64, "l2", index=None)}, payload={"b": "integer"})
        n = _fill_until_full(col, rng)
        assert n > 0 and col.count() == n  # nothing of the failed batch was kept
        assert len(col.search("v", np.zeros(64), k=3)) == 3  # reads keep working
        assert len(col.get([0, n - 1])) == 2 and col.scroll(limit=10).points
        with pytest.raises(vecdb.StorageFull):  # and it stays a clean refusal, write after write
            col.upsert([n], rng.normal(size=(1, 64)))
        try:  # a delete may still fit in the map's free pages, or be refused the same clean way
            col.delete([0])
        except vecdb.StorageFull:
            pass
        live = col.count()
        assert live in (n, n - 1)
    vecdb.verify(path)  # nothing was corrupted
    with vecdb.open(path, map_size=4 << 20, max_map_size=64 << 20) as db:  # the map may grow now
        col = db["c"]
        assert col.count() == live
        col.upsert(np.arange(n, n + 2000), rng.normal(size=(2000, 64)), [{"b": n}] * 2000)
        assert col.count() == live + 2000 and db._env.map_size > 4 << 20
        assert {p.id for p in col.get([1, n - 1, n + 1999])} == {1, n - 1, n + 1999}


def test_storage_full_over_grpc_keeps_serving_reads(tmp_path):
    import vecdb_client
    from vecdb_server import ServerConfig, create_server

    rng = np.random.default_rng(1)
    path = tmp_path / "db"
    config = dict(data=str(path), port=0, workers=4, map_size=1 << 20, max_map_size=4 << 20)
    srv, port = create_server(ServerConfig(**config))
    try:
        with vecdb_client.connect(f"127.0.0.1:{port}", timeout=60) as db:
            col = db.create_collection("c", vectors={"v": vecdb.Dense(64, "l2", index=None)}, payload={"b": "integer"})
            n = _fill_until_full(col, rng)  # the client sees the same StorageFull class
            assert col.count() == n and len(col.search("v", np.zeros(64), k=3)) == 3
            assert db.health() == "SERVING"
    finally:
        srv.stop(0)
    srv, port = create_server(ServerConfig(**{**config, "max_map_size": 64 << 20, "map_size": 4 << 20}))
    try:
        with vecdb_client.connect(f"127.0.0.1:{port}", timeout=60) as db:
            assert db["c"].upsert(np.arange(n, n + 500), rng.normal(size=(500, 64))) == 500
            assert db["c"].count() == n + 500
    finally:
        srv.stop(0)
