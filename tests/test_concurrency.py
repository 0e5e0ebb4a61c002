"""Many reader threads while a writer writes (and grows the map under them): every read is one consistent
snapshot, nothing deadlocks, no error escapes."""

import threading
import time

import numpy as np

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
    stop = threading.Event()
    errors: list[BaseException] = []
    checks = [0] * 4

    def writer():
        try:
            for b in range(30):
                ids, x = _batch(b)
                col.upsert(ids, x, [{"b": b}] * BATCH)
                if b >= 3 and b % 2:
                    col.delete(_batch(b - 3)[0])
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)
        finally:
            stop.set()

    def reader(slot):
        try:
            while not stop.is_set():
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
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors[0]
    assert min(checks) > 0 and db._env.map_size > 1 << 19
    db.close()
