"""Full structural check of a database, run in a child process.

LMDB keeps no checksums: a flipped byte in a page header is caught by LMDB, but one in a value's length can
point a read past the end of the file, and touching it kills the reading process with SIGBUS. So the check runs
in a child: it walks every table, touches every key and value, decodes vecdb's own records and checks block
sizes against the layout. A child killed by a signal, or any inconsistency, is reported as CorruptDatabase to the
caller, which is never at risk. Cost: one sequential read of the whole file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from .errors import CorruptDatabase

_CHILD = r"""
import json, struct, sys
import lmdb
path = sys.argv[1]
out = {"keys": 0, "bytes": 0}
env = lmdb.open(path, readonly=True, lock=False, max_dbs=32, subdir=True)
with env.begin() as txn:
    names = [bytes(k) for k, _ in txn.cursor()]
for name in names:
    db = env.open_db(name, create=False)
    with env.begin(buffers=True) as txn, txn.cursor(db=db) as cur:
        prev = None
        for k, v in cur:
            k = bytes(k); data = bytes(v)  # touching every byte is the point
            if prev is not None and k <= prev:
                raise SystemExit(f"keys out of order in table {name!r}")
            prev = k
            out["keys"] += 1; out["bytes"] += len(data)
            if name == b"catalog" and k.startswith(b"col/"):
                desc = json.loads(data)
                assert {"uid", "schema", "layout"} <= set(desc), f"catalog entry {k!r} incomplete"
            if name == b"meta" and k.endswith(b"state"):
                assert len(data) == 32, f"collection state {k!r} has {len(data)} bytes"
            if name == b"payload":
                json.loads(data)
print(json.dumps(out))
"""


def verify(path: str | os.PathLike, timeout: float = 3600) -> dict:
    """Check the database at path; returns {"keys": n, "bytes": n} or raises CorruptDatabase naming the damage."""
    path = os.fspath(path)
    try:
        r = subprocess.run([sys.executable, "-c", _CHILD, path], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CorruptDatabase(f"verifying {path} did not finish within {timeout:.0f}s") from None
    if r.returncode < 0:
        name = signal.Signals(-r.returncode).name
        raise CorruptDatabase(f"{path} is damaged: reading it crashed the verifier ({name}); restore a backup")
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise CorruptDatabase(f"{path} is damaged: {last}")
    return json.loads(r.stdout.strip().splitlines()[-1])
