"""Fixtures and helpers shared by the gRPC tests: one in-process server per module, and the embedded/remote pair
that the congruence suite runs every scenario on."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest

import vecdb
import vecdb_client
from vecdb.results import Hits, Point, ScrollPage
from vecdb_server import ServerConfig, create_server


def start(tmp_dir, interceptors=(), **config):
    config.setdefault("port", 0)
    config.setdefault("workers", 8)
    return create_server(ServerConfig(data=str(tmp_dir), **config), interceptors=interceptors)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv, port = start(tmp_path_factory.mktemp("server"))
    yield srv
    srv.stop(0)


@pytest.fixture(scope="module")
def remote(server):
    db = vecdb_client.connect(f"127.0.0.1:{server.port}", timeout=30)
    yield db
    db.close()


def _clean(db) -> None:
    for alias in db.list_aliases():
        db.delete_alias(alias)
    for name in db.list_collections():
        db.drop_collection(name)


@pytest.fixture(params=["embedded", "remote"])
def any_db(request, tmp_path):
    """The `db` of CONVENTIONS #8: the same test body runs on an embedded database and on the server."""
    if request.param == "embedded":
        db = vecdb.open(tmp_path / "db")
        yield db
        db.close()
    else:
        db = request.getfixturevalue("remote")
        _clean(db)
        yield db
        _clean(db)


@dataclasses.dataclass
class Pair:
    embedded: vecdb.Database
    remote: vecdb_client.RemoteDatabase

    def run(self, scenario: Callable) -> list:
        """Run scenario(db, log) on both; every step's result or error must be the same."""
        logs = []
        for db in (self.embedded, self.remote):
            log = Log()
            scenario(db, log)
            logs.append(log.entries)
        emb, rem = logs
        assert len(emb) == len(rem), f"{len(emb)} embedded steps vs {len(rem)} remote steps"
        for i, (a, b) in enumerate(zip(emb, rem)):
            assert a == b, f"step {i} differs:\n  embedded: {a}\n  remote:   {b}"
        return emb


@pytest.fixture
def pair(tmp_path, remote):
    _clean(remote)
    emb = vecdb.open(tmp_path / "embedded")
    yield Pair(emb, remote)
    emb.close()
    _clean(remote)


class Log:
    """Records canonical results and errors of scenario steps, so a failing step does not stop the scenario."""

    def __init__(self) -> None:
        self.entries: list = []

    def __call__(self, label: str, fn: Callable, *args, **kwargs):
        try:
            out = fn(*args, **kwargs)
        except vecdb.VecDBError as e:
            self.entries.append((label, "raise", type(e).__name__, str(e)))
            return None
        self.entries.append((label, "ok", canon(out)))
        return out


def canon(x):
    """A plain, comparable form of any API result."""
    if isinstance(x, Hits):
        return ("Hits", canon(x.ids), x.scores.dtype.str, x.scores.tolist(), canon(x.payloads), canon(x.explain))
    if isinstance(x, Point):
        return ("Point", x.id, canon(x.payload), canon(x.vectors))
    if isinstance(x, ScrollPage):
        return ("Page", canon(x.points), x.next_offset)
    if isinstance(x, np.ndarray):
        return ("nd", x.dtype.str, x.shape, x.tolist())
    if isinstance(x, dict):
        return {k: canon(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [canon(v) for v in x]
    if isinstance(x, (vecdb.Database, vecdb_client.RemoteDatabase)):
        return "db"
    if hasattr(x, "schema") and hasattr(x, "uid"):  # a collection handle (embedded or remote)
        return ("Collection", x.name, x.schema.to_dict())
    if isinstance(x, (bool, int, float, str, type(None))):
        return (type(x).__name__, x)
    raise TypeError(f"no canonical form for {type(x).__name__}")
