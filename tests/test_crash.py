"""A handful of real SIGKILLs of a writer doing upserts, deletes, index builds and compactions, embedded and with
the gRPC server as the process killed (the on-demand run does 200+ per mode:
python tests/reliability/crash_harness.py --kills 200 --mode embedded|server)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "reliability"))
from crash_harness import check, execute, run  # noqa: E402

import vecdb  # noqa: E402


@pytest.mark.parametrize("mode,kills", [("embedded", 5), ("server", 3)])
def test_random_kills_lose_no_acknowledged_write(tmp_path, mode, kills):
    stats = run(kills=kills, workdir=str(tmp_path), seed=1, max_wait=1.0, mode=mode, log=lambda *_: None)
    assert stats["kills"] == kills and stats["max_points"] > 0 and stats["ops_acked"] >= kills
    assert stats["acked_writes_lost"] == 0
    assert stats["recall_persisted_min"] >= 0.9 and stats["recall_rebuilt_min"] >= 0.9


def test_the_check_catches_a_lost_or_partial_write(tmp_path):
    """The checker is not a rubber stamp: a journal claiming a write the database does not hold fails it."""
    run(kills=1, workdir=str(tmp_path), seed=2, max_wait=0.5, log=lambda *_: None)
    db, journal = str(tmp_path / "db"), tmp_path / "journal"
    check(db, str(journal))  # consistent as left by the run
    good = journal.read_text()
    for op in (
        {"op": "upsert", "no": 10**6, "ids": [1, 2, 3], "version": 10**6},  # acknowledged, never stored
        {"op": "delete", "no": 10**6, "ids": list(range(3000))},  # acknowledged delete of everything
    ):
        journal.write_text(good + "BEGIN " + json.dumps(op) + "\nACK\n")
        with pytest.raises(AssertionError, match="database != model"):
            check(db, str(journal))
    # an op in flight that the database holds only half of: neither "before" nor "after" it
    journal.write_text(good)
    check(db, str(journal))
    op = {"op": "upsert", "no": 10**6, "ids": [4000, 4001], "version": 10**6}
    with vecdb.open(db) as d:
        execute(d["c"], {**op, "ids": [4000]})
    journal.write_text(good + "BEGIN " + json.dumps(op) + "\n")
    with pytest.raises(AssertionError, match="database != model"):
        check(db, str(journal))


def test_the_check_catches_codes_out_of_step(tmp_path):
    """The compressed field's check is not a rubber stamp either: a stored code row that no longer encodes its
    point's vector fails it."""
    import numpy as np
    from crash_harness import schema_kwargs

    db_path, journal = str(tmp_path / "db"), tmp_path / "journal"
    ops = [{"op": "upsert", "no": 1, "ids": list(range(300)), "version": 1}, {"op": "fit_compression", "no": 2}]
    with vecdb.open(db_path) as db:
        col = db.create_collection("c", **schema_kwargs())
        for op in ops:
            execute(col, op)
        assert col.compression_info("v") is not None
    journal.write_text("".join("BEGIN " + json.dumps(op) + "\nACK\n" for op in ops))
    check(db_path, str(journal), rebuild=False)
    with vecdb.open(db_path) as db:
        col = db["c"]
        cf = col._codes["v"]
        with col._env.read() as txn:
            t = cf.trained(txn, col._t["aux"])
        col._env.write(lambda txn: t.column.write_rows(txn, col._t["block"], 5, np.full((1, 16), 7, np.int8)))
    with pytest.raises(AssertionError, match="stored codes differ"):
        check(db_path, str(journal), rebuild=False)
