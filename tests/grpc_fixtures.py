"""Fixtures and helpers shared by the gRPC tests: one in-process server per module, and the embedded/remote pair
that the congruence suite runs every scenario on."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import threading
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


class EventLoopThread:
    """An asyncio loop in a background thread, so synchronous test code can drive the asyncio client."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(120)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class SyncOverAsync:
    """The asyncio client seen through blocking calls: every coroutine method is run to completion on the loop,
    and collection handles come back wrapped too. Lets the congruence scenarios run unchanged on the aio client."""

    def __init__(self, target, loop: EventLoopThread) -> None:
        self._target = target
        self._loop = loop

    def __getattr__(self, name):
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            out = attr(*args, **kwargs)
            if inspect.iscoroutine(out):
                out = self._loop.run(out)
            if isinstance(out, vecdb_client.AsyncRemoteCollection):
                return SyncOverAsync(out, self._loop)
            return out

        return call

    def __getitem__(self, name):
        return self.get_collection(name)


@pytest.fixture(scope="module")
def remote_async(server):
    loop = EventLoopThread()
    db = loop.run(vecdb_client.connect_async(f"127.0.0.1:{server.port}", timeout=30))
    yield SyncOverAsync(db, loop)
    loop.run(db.close())
    loop.stop()


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
    """The embedded database and the server (one database, reached through the blocking and the asyncio client)."""

    embedded: vecdb.Database
    remote: vecdb_client.RemoteDatabase
    remote_async: SyncOverAsync

    def run(self, scenario: Callable) -> list:
        """Run scenario(db, log) embedded, then remotely through each client (on a clean server each time);
        every step's result or error must be the same."""
        logs = {}
        for name, db in (("embedded", self.embedded), ("remote", self.remote), ("remote_async", self.remote_async)):
            if name != "embedded":
                _clean(self.remote)
            log = Log()
            scenario(db, log)
            logs[name] = log.entries
        emb = logs["embedded"]
        for name in ("remote", "remote_async"):
            got = logs[name]
            assert len(emb) == len(got), f"{len(emb)} embedded steps vs {len(got)} {name} steps"
            for i, (a, b) in enumerate(zip(emb, got)):
                assert a == b, f"step {i} differs:\n  embedded: {a}\n  {name}: {b}"
        return emb


@pytest.fixture
def pair(tmp_path, remote, remote_async):
    _clean(remote)
    emb = vecdb.open(tmp_path / "embedded")
    yield Pair(emb, remote, remote_async)
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
