"""Migration pieces: map resolution by version, the pair reservoir, and the bounded re-embedding loop."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from vecdb.drift import fit_map
from vecdb.drift.migration import MigrationProgress, PairReservoir, reembed, resolve_map
from vecdb.errors import FailedPrecondition, InvalidArgument, NotFound


def _rotation(rng, d):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


@pytest.fixture
def corpus(rng):
    """1,000 rows: old-model vectors, and a 'new model' that is a rotation of the old one."""
    old = rng.standard_normal((1000, 16)).astype(np.float32)
    R = _rotation(rng, 16)
    return old, R


def _batches(old, start=0, size=100):
    for s in range(start, len(old), size):
        ids = np.arange(s, min(s + size, len(old)))
        yield ids, ids, old[ids]  # inputs for `embed` are the row ids here (real use: the texts)


def test_resolve_map(rng, corpus):
    old, R = corpus
    m = fit_map("procrustes", old @ R, old)
    maps = {"v2": m}
    assert resolve_map("emb", None, "v1", maps) is None
    assert resolve_map("emb", "v1", "v1", maps) is None
    assert resolve_map("emb", "v2", "v1", maps) is m
    with pytest.raises(NotFound, match=r"no drift map for queries of version 'v3' \(versions with a map: \['v2'\]\)"):
        resolve_map("emb", "v3", "v1", maps)
    with pytest.raises(NotFound, match="none"):
        resolve_map("emb", "v3", "v1", {})


def test_reservoir_is_bounded_uniform_and_seeded(rng):
    a = PairReservoir(2, 2, capacity=100, seed=3)
    b = PairReservoir(2, 2, capacity=100, seed=3)
    for s in range(0, 5000, 250):
        x = np.arange(s, s + 250, dtype=np.float32)[:, None].repeat(2, 1)
        a.add(x, x)
        b.add(x, x)
    assert len(a) == 100 and a.seen == 5000
    new, old = a.pairs()
    assert np.array_equal(new, b.pairs()[0]) and np.array_equal(new, old)
    assert len(np.unique(new[:, 0])) == 100
    assert 1500 < new[:, 0].mean() < 3500  # drawn from the whole stream, not only its start (mean 2500)
    with pytest.raises(InvalidArgument, match="2 -> 2"):
        a.add(np.zeros((1, 3)), np.zeros((1, 2)))
    with pytest.raises(FailedPrecondition, match="no re-embedded pairs"):
        PairReservoir(2, 2).fit()


def test_reembed_writes_everything_reports_progress_and_feeds_a_usable_map(rng, corpus):
    old, R = corpus
    written = {}
    seen = []
    res = PairReservoir(16, 16, capacity=300, seed=0)
    final = reembed(
        _batches(old),
        embed=lambda ids: old[ids] @ R,
        write=lambda ids, v, p: written.update(zip(ids.tolist(), v)),
        rows_total=len(old),
        d_new=16,
        reservoir=res,
        on_progress=seen.append,
        progress=False,
    )
    assert final.state == "done" and final.rows_done == 1000 and final.fraction == 1.0 and final.last_row == 999
    assert sorted(written) == list(range(1000))
    done = [p.rows_done for p in seen]
    assert done == sorted(done) and done[0] == 100 and seen[-1].state == "done"
    assert all(p.eta_seconds is not None for p in seen)
    m = res.fit("procrustes")  # serving the new model through a map fitted on the rows migrated so far
    assert np.allclose(m.arrays["W"], R.T, atol=1e-4)
    q = rng.standard_normal((5, 16)).astype(np.float32)
    assert np.allclose(m.apply(q @ R), q, atol=1e-4)


def test_cancel_then_resume_from_the_checkpoint(corpus):
    old, R = corpus
    written = []
    checkpoint = {}
    cancel = threading.Event()

    def write(ids, v, p):
        written.extend(ids.tolist())
        checkpoint["p"] = MigrationProgress.from_dict(p.to_dict())  # what the engine would persist
        if p.rows_done >= 300:
            cancel.set()

    first = reembed(_batches(old), lambda ids: old[ids] @ R, write, rows_total=1000, d_new=16, cancel=cancel)
    assert first.state == "cancelled" and first.rows_done == 300
    cp = checkpoint["p"]
    second = reembed(
        _batches(old, start=cp.last_row + 1),
        lambda ids: old[ids] @ R,
        write=lambda ids, v, p: written.extend(ids.tolist()),
        rows_total=1000,
        d_new=16,
        resume=cp,
    )
    assert second.state == "done" and second.rows_done == 1000
    assert written == list(range(1000))  # every row exactly once


def test_failures_are_reported_and_not_counted(corpus):
    old, R = corpus
    seen = []

    def embed(ids):
        if ids[0] >= 200:
            raise RuntimeError("model server down")
        return old[ids] @ R

    with pytest.raises(RuntimeError, match="model server down"):
        reembed(_batches(old), embed, lambda *a: None, rows_total=1000, d_new=16, on_progress=seen.append)
    assert seen[-1].state == "failed" and seen[-1].rows_done == 200 and "model server down" in seen[-1].error
    with pytest.raises(InvalidArgument, match=r"shape \(100, 8\)"):
        reembed(_batches(old), lambda ids: old[ids][:, :8], lambda *a: None, rows_total=1000, d_new=16)
    nan = lambda ids: np.full((len(ids), 16), np.nan)  # noqa: E731
    with pytest.raises(InvalidArgument, match="NaN"):
        reembed(_batches(old), nan, lambda *a: None, rows_total=1000, d_new=16)


def test_progress_round_trip_and_validation():
    p = MigrationProgress(state="running", rows_done=5, rows_total=10, last_row=4, rate=2.0)
    assert MigrationProgress.from_dict(p.to_dict()) == p and p.fraction == 0.5
    with pytest.raises(InvalidArgument, match="state"):
        MigrationProgress(state="flying")
