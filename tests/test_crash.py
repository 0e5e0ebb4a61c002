"""A handful of real SIGKILLs of a writer doing upserts, deletes, index builds and compactions (the on-demand run
does 200+: python tests/reliability/crash_harness.py --kills 200)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "reliability"))
from crash_harness import run  # noqa: E402


def test_random_kills_lose_no_acknowledged_write(tmp_path):
    stats = run(kills=5, workdir=str(tmp_path), seed=1, max_wait=1.0, log=lambda *_: None)
    assert stats["kills"] == 5 and stats["max_points"] > 0 and stats["ops_acked"] >= 5
