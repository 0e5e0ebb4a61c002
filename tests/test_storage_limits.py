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
