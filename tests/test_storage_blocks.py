"""Block addresses in LMDB's memory map (rescoring reads candidates in place) and their cache per snapshot."""

from __future__ import annotations

import lmdb
import numpy as np
import pytest

from vecdb.storage.blocks import BlockArray, SnapshotBlocks


@pytest.fixture
def column(tmp_path):
    env = lmdb.open(str(tmp_path / "db"), map_size=1 << 26, max_dbs=2)
    db = env.open_db(b"block")
    col = BlockArray(uid=7, slot=3, dtype=np.dtype(np.float32), width=5, block_rows=64)
    data = np.random.default_rng(0).standard_normal((1000, 5)).astype(np.float32)  # 16 blocks, the last partial
    with env.begin(write=True) as txn:
        col.write_rows(txn, db, 0, data)
    yield env, db, col, data
    env.close()


def test_addresses_read_each_row_in_place(column):
    env, db, col, data = column
    with env.begin(buffers=True) as txn:
        addrs = col.addresses(txn, db, 1000)
        assert addrs.shape == (16,) and addrs.dtype == np.int64
        views = col.views(txn, db, 1000)
        for (first, view), a in zip(views, addrs.tolist()):
            assert view.__array_interface__["data"][0] == a and first % 64 == 0


def test_snapshot_addresses_follow_the_transaction_id(column):
    env, db, col, data = column
    generation = [0]
    cache = SnapshotBlocks(col, lambda: generation[0])
    with env.begin(buffers=True) as txn:
        first = cache.addresses(txn, db, 1000)
    with env.begin(buffers=True) as txn:
        assert cache.addresses(txn, db, 1000) is first  # same snapshot: reused
        generation[0] += 1  # the map moved
        moved = cache.addresses(txn, db, 1000)
        assert moved is not first
        np.testing.assert_array_equal(moved, first)  # (it did not really move here)
        assert cache.addresses(txn, db, 640) is not moved  # fewer rows asked: read again
    with env.begin(write=True) as txn:
        col.write_rows(txn, db, 1000, np.ones((10, 5), np.float32))  # a commit moves the txn id (and the tail)
    with env.begin(buffers=True) as txn:
        again = cache.addresses(txn, db, 1010)
        assert again.shape == (16,)
        np.testing.assert_array_equal(again, col.addresses(txn, db, 1010))
    with env.begin(buffers=True) as txn:
        assert cache.addresses(txn, db, 0).shape == (0,) and cache.views(txn, db, 0) == []
        views = cache.views(txn, db, 1010)
        assert cache.views(txn, db, 1010) is views and len(views) == 16
        np.testing.assert_array_equal(np.concatenate([v for _, v in views])[:1000], data)
