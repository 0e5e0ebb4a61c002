"""The LMDB environment of one database: tables, read/write transactions, map growth, format check.

Every write goes through `Env.write(fn)`: fn runs inside ONE write transaction that commits (fsync'd) or aborts
as a whole, so a write is either fully acknowledged and durable or leaves no trace. When the map is full the
transaction is aborted, the map doubled, and fn re-run from scratch on a fresh transaction.
"""

from __future__ import annotations

import errno
import json
import os
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import lmdb

from ..errors import CorruptDatabase, InvalidArgument, NotFound, ReadOnly, StorageFull, Unavailable

T = TypeVar("T")
FORMAT = b"vecdb/1"
# One B-tree per kind of record; collections are key prefixes inside them, so the number of collections is not
# bounded by LMDB's max_dbs, and every transaction stays cheap.
TABLES = (
    "catalog",  # format marker, collection name -> descriptor
    "meta",  # per-collection state records
    "id2row",  # uid + id key -> row
    "row2id",  # uid + row -> id key
    "payload",  # uid + row -> JSON payload
    "tomb",  # uid + chunk -> tombstone bitmap chunk
    "block",  # uid + field + block -> fixed-size block of rows (vectors, codes, adjacency)
    "aux",  # uid + kind + key -> derived structures (indexes, codec parameters, maps)
)
# What damaged data can raise on the way out of LMDB (no checksums: a flipped byte is caught by LMDB's page checks,
# by our own format checks, or shows up as an undecodable record). Reported as CorruptDatabase, never a crash.
DAMAGE_ERRORS = (
    lmdb.CorruptedError,
    lmdb.PageNotFoundError,
    lmdb.PanicError,
    lmdb.InvalidError,
    lmdb.IncompatibleError,
    lmdb.BadValsizeError,
    UnicodeDecodeError,
    json.JSONDecodeError,
    struct.error,
)
DEFAULT_MAP_SIZE = 1 << 30
DEFAULT_MAX_MAP_SIZE = 1 << 40


class _RWLock:
    """Many readers or one exclusive holder; used so set_mapsize never runs while a transaction is open.

    A shared hold is one entry in a list: list.append and list.pop are single atomic steps under the GIL, so a read
    registers itself without taking a lock (two locked sections cost ~1.2 us, on every search). An exclusive request
    raises the gate and then waits for the list to empty; a reader appends first and then looks at the gate. Each
    order of those two steps is safe: either the reader sees the gate (takes its entry back and waits for the gate
    to fall) or the exclusive side sees the entry (and waits for it to go). Entries are all None, so a pop removes
    "a hold", which is all the count needs. The lock and condition serve only the slow paths (a gate up).
    This leans on the GIL ordering each step against the others: a free-threaded CPython build would need the
    shared side under the lock again (or an atomic counter with fences)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._holds: list[None] = []  # one entry per shared hold
        self._gate = False  # an exclusive request is waiting or holds

    def acquire_shared(self) -> None:
        holds = self._holds
        holds.append(None)
        while self._gate:
            # writer preference: new readers wait while a resize is pending, else a steady stream of readers
            # would starve it forever (no code path takes a read inside a write transaction, so this cannot
            # deadlock)
            holds.pop()
            with self._cond:
                self._cond.notify_all()  # the exclusive side may be waiting for this entry
                while self._gate:
                    self._cond.wait()
            holds.append(None)

    def release_shared(self) -> None:
        self._holds.pop()
        if self._gate:  # notifying costs microseconds on every read otherwise
            with self._cond:
                self._cond.notify_all()

    @contextmanager
    def shared(self) -> Iterator[None]:
        self.acquire_shared()
        try:
            yield
        finally:
            self.release_shared()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._gate:  # one exclusive holder at a time
                self._cond.wait()
            self._gate = True
            while self._holds:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._gate = False
                self._cond.notify_all()


class _ReadTxn:
    """Context manager of one read transaction (a class, not a generator: it sits on every search's path)."""

    __slots__ = ("_env", "_txn")

    def __init__(self, env: Env) -> None:
        self._env = env
        self._txn = None

    def __enter__(self) -> lmdb.Transaction:
        self._txn = self._env.begin_read()
        return self._txn

    def __exit__(self, exc_type, exc, tb) -> None:
        self._env.end_read(self._txn)
        if exc_type is not None and issubclass(exc_type, DAMAGE_ERRORS):
            raise self._env.damaged(exc) from exc


class Env:
    def __init__(
        self,
        path: str | os.PathLike,
        *,
        read_only: bool = False,
        map_size: int | None = None,
        max_map_size: int = DEFAULT_MAX_MAP_SIZE,
        sync: bool = True,
    ) -> None:
        self.path = os.fspath(path)
        self.read_only = read_only
        self.max_map_size = int(max_map_size)
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise CorruptDatabase(f"{self.path} is a file, not a vecdb data directory")
        if read_only and not os.path.exists(os.path.join(self.path, "data.mdb")):
            raise NotFound(f"no vecdb database at {self.path} (read-only open needs an existing database)")
        if not read_only:
            os.makedirs(self.path, exist_ok=True)
        existing = os.path.join(self.path, "data.mdb")
        size = os.path.getsize(existing) if os.path.exists(existing) else 0
        if os.path.exists(existing) and size < 8192:
            # LMDB writes its two meta pages when it creates a database: a shorter data file was damaged (LMDB
            # itself would silently start over with an empty database).
            raise CorruptDatabase(
                f"{existing} is {size} bytes, too short to be a database; if this directory "
                "never held data, delete it and open again"
            )
        initial = map_size or max(DEFAULT_MAP_SIZE, 2 * size)
        if initial > self.max_map_size:
            raise InvalidArgument(f"map_size {initial} exceeds max_map_size {self.max_map_size}")
        try:
            self._env = lmdb.open(
                self.path,
                map_size=initial,
                max_dbs=len(TABLES) + 4,
                max_readers=1024,
                max_spare_txns=64,
                readonly=read_only,
                lock=True,
                sync=sync,
                metasync=sync,
                meminit=False,
                subdir=True,
                create=not read_only,
            )
        except lmdb.InvalidError as e:
            raise CorruptDatabase(f"{self.path} does not hold a valid LMDB data file: {e}") from None
        except lmdb.VersionMismatchError as e:
            raise CorruptDatabase(f"{self.path} was written by an incompatible LMDB version: {e}") from None
        except lmdb.Error as e:
            raise CorruptDatabase(f"cannot open the database at {self.path}: {e}") from None
        self._rw = _RWLock()
        self._write_lock = threading.RLock()
        self._closed = False
        # moves whenever this process remaps LMDB's map (always under the exclusive lock, so a reader holding the
        # shared one sees it stand still): addresses of values read earlier are valid while it has not moved
        self.map_generation = 0
        try:
            self.db = self._open_tables()
        except BaseException:
            self._env.close()
            raise

    def _open_tables(self) -> dict[str, object]:
        try:
            if self.read_only:
                # Handles opened in a read transaction die with it unless it commits: let py-lmdb open each one
                # in its own committed transaction.
                dbs = {t: self._env.open_db(t.encode(), create=False) for t in TABLES}
                with self._env.begin() as txn:
                    marker = txn.get(b"format", db=dbs["catalog"])
            else:
                with self._env.begin(write=True) as txn:
                    foreign = _foreign_keys(txn)
                    if foreign:
                        raise CorruptDatabase(
                            f"{self.path} holds an LMDB database that is not vecdb's (found key {foreign!r})"
                        )
                    dbs = {t: self._env.open_db(t.encode(), txn=txn, create=True) for t in TABLES}
                    marker = txn.get(b"format", db=dbs["catalog"])
                    if marker is None:
                        txn.put(b"format", FORMAT, db=dbs["catalog"])
                        marker = FORMAT
        except lmdb.NotFoundError:
            raise CorruptDatabase(f"{self.path} is an LMDB database but not a vecdb one (tables missing)") from None
        except lmdb.IncompatibleError:
            raise CorruptDatabase(f"{self.path} is an LMDB database but not a vecdb one") from None
        except lmdb.CorruptedError as e:
            raise CorruptDatabase(f"the database at {self.path} is corrupted: {e}") from None
        if marker != FORMAT:
            raise CorruptDatabase(f"{self.path} has data format {marker!r}; this vecdb reads {FORMAT!r}")
        return dbs

    # ------------------------------------------------------------------ transactions
    def read(self) -> _ReadTxn:
        """A read-only snapshot (`with env.read() as txn:`); values come back as zero-copy buffers valid until the
        block exits."""
        self._check_open()
        return _ReadTxn(self)

    def begin_read(self) -> lmdb.Transaction:
        """A read-only snapshot for callers that cannot afford a context manager (the single-query paths): end it
        with end_read, in a finally; translate DAMAGE_ERRORS raised meanwhile with damaged(). The shared hold's
        fast path (see _RWLock) is written out here: two method calls are a tenth of this call."""
        rw = self._rw
        rw._holds.append(None)
        while True:
            if rw._gate or self._closed:  # slow path: wait out a remap; a close() met while waiting is reported
                rw.release_shared()
                self._check_open()
                rw.acquire_shared()
                if self._closed:
                    rw.release_shared()
                    self._check_open()
            try:
                return self._env.begin(buffers=True)
            except lmdb.MapResizedError:
                rw.release_shared()
                self._adopt_new_map_size()
                rw.acquire_shared()  # and round again: the env may have closed meanwhile
            except BaseException:
                rw.release_shared()
                raise

    def end_read(self, txn: lmdb.Transaction) -> None:
        try:
            txn.abort()
        finally:
            self._rw.release_shared()

    def damaged(self, exc: BaseException) -> CorruptDatabase:
        """The error to raise for a DAMAGE_ERRORS exception met inside a read."""
        return CorruptDatabase(f"the database at {self.path} is damaged: {exc}")

    def write(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        """Run fn in one durable write transaction; retried from scratch after growing a full map."""
        self._check_open()
        if self.read_only:
            raise ReadOnly(f"the database at {self.path} was opened read-only")
        with self._write_lock:
            while True:
                with self._rw.shared():
                    try:
                        return self._run_write(fn)
                    except lmdb.MapFullError:
                        remedy = self._grow
                    except lmdb.MapResizedError:  # another process grew the map
                        remedy = self._adopt_new_map_size
                remedy()  # outside the shared lock: both need the exclusive one

    def _run_write(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        txn = self._env.begin(write=True, buffers=True)
        try:
            result = fn(txn)
        except DAMAGE_ERRORS as e:
            txn.abort()
            raise self.damaged(e) from e
        except BaseException:
            txn.abort()
            raise
        try:
            txn.commit()
        except lmdb.MapFullError:
            raise
        except lmdb.Error as e:
            # LMDB reports a short write (disk full) as EIO: look at the filesystem to tell the two apart.
            if _is_disk_full(e, self.path):
                raise StorageFull(
                    f"the disk holding {self.path} is full; the write was not kept "
                    "(reads still work; free space and retry)"
                ) from None
            raise Unavailable(f"writing to {self.path} failed ({e}); the write was not kept") from None
        return result

    def _grow(self) -> None:
        with self._rw.exclusive():
            current = self._env.info()["map_size"]
            if current >= self.max_map_size:
                raise StorageFull(
                    f"the database at {self.path} reached its maximum size of {self.max_map_size} bytes; "
                    "the write was not kept (raise max_map_size, or delete and compact)"
                )
            self._env.set_mapsize(min(current * 2, self.max_map_size))
            self.map_generation += 1

    def _adopt_new_map_size(self) -> None:
        with self._rw.exclusive():
            self._env.set_mapsize(0)
            self.map_generation += 1

    # ------------------------------------------------------------------ misc
    @property
    def map_size(self) -> int:
        return self._env.info()["map_size"]

    def set_max_map_size(self, n: int) -> None:
        self.max_map_size = int(n)

    def copy_to(self, path: str, compact: bool = True) -> None:
        self._check_open()
        os.makedirs(path, exist_ok=True)
        self._env.copy(path, compact=compact)

    def stat(self) -> dict:
        return {"map_size": self.map_size, "used_bytes": _used_bytes(self._env), "path": self.path}

    def _check_open(self) -> None:
        if self._closed:
            raise ReadOnly("the database is closed")

    def close(self) -> None:
        if not self._closed:
            with self._write_lock, self._rw.exclusive():
                self._closed = True
                self._env.close()


def _foreign_keys(txn: lmdb.Transaction) -> bytes | None:
    """The first key of the main DB that is not one of our table names, or None."""
    names = {t.encode() for t in TABLES}
    with txn.cursor() as cur:
        for key in cur.iternext(values=False):
            if bytes(key) not in names:
                return bytes(key)
    return None


def _used_bytes(env: lmdb.Environment) -> int:
    info, stat = env.info(), env.stat()
    return (info["last_pgno"] + 1) * stat["psize"]


DISK_FULL_MARGIN = 16 << 20  # bytes: a write error with less free space than this is taken as "disk full"


def _is_disk_full(e: Exception, path: str) -> bool:
    if "No space left" in str(e) or getattr(e, "errno", None) == errno.ENOSPC:
        return True
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < DISK_FULL_MARGIN
