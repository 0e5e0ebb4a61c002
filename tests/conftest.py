import os
from pathlib import Path

import numpy as np
import pytest

import vecdb

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("VECDB_DATA", REPO.parent / "shared" / "data"))


def data_path(*parts: str) -> Path:
    """A file under ../shared/data, or a clean skip when the data sets are not beside this clone."""
    p = DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data set not available: {p} (set VECDB_DATA to the shared data folder)")
    return p


@pytest.fixture
def db(tmp_path):
    d = vecdb.open(tmp_path / "db")
    yield d
    d.close()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
