"""A database: one LMDB environment (a directory) holding any number of collections."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from .collection import Collection, drop_collection_data
from .errors import AlreadyExists, CorruptDatabase, InvalidArgument, NotFound
from .schema import CollectionSchema, MultiVector, check_collection_name
from .storage.blocks import block_rows_for
from .storage.env import DEFAULT_MAX_MAP_SIZE, Env
from .storage.keys import State, meta_key

FDE_SLOT_BASE = 3000  # block slots of the hidden FDE fields of multi-vector fields
_COL = b"col/"
_ALIAS = b"alias/"
_NEXT_UID = b"next_uid"


class Database:
    """Open with `vecdb.open(path)`. Safe to share between threads; several processes may open the same
    directory (one writer at a time, any number of readers, each read seeing one consistent snapshot)."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        read_only: bool = False,
        map_size: int | None = None,
        max_map_size: int = DEFAULT_MAX_MAP_SIZE,
        sync: bool = True,
        verify: bool = False,
    ) -> None:
        if verify and os.path.exists(os.path.join(os.fspath(path), "data.mdb")):
            from .verify import verify as _verify

            _verify(path)
        self._env = Env(path, read_only=read_only, map_size=map_size, max_map_size=max_map_size, sync=sync)
        self.path = self._env.path
        self.read_only = read_only
        self._collections: dict[str, Collection] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._env.close()

    def __repr__(self) -> str:
        return f"vecdb.Database({self.path!r}{', read_only=True' if self.read_only else ''})"

    # ------------------------------------------------------------------ catalog
    def _descriptor(self, txn, name: str) -> dict[str, Any] | None:
        raw = txn.get(_COL + name.encode(), db=self._env.db["catalog"])
        if raw is None:
            return None
        try:
            return json.loads(bytes(raw))
        except ValueError:
            raise CorruptDatabase(f"the catalog entry of collection {name!r} is damaged") from None

    def _collection(self, name: str, desc: Mapping[str, Any]) -> Collection:
        with self._lock:
            col = self._collections.get(name)
            if col is None or col.uid != desc["uid"]:
                schema = CollectionSchema.from_dict(desc["schema"])
                col = Collection(self, name, int(desc["uid"]), schema, desc["layout"])
                self._collections[name] = col
            return col

    def create_collection(
        self,
        name: str,
        vectors: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
        *,
        schema: CollectionSchema | None = None,
        exist_ok: bool = False,
    ) -> Collection:
        """Create a collection, e.g. create_collection("docs", vectors={"emb": Dense(384, "cosine")},
        payload={"lang": "keyword"}). With exist_ok, an existing collection of the same schema is returned."""
        check_collection_name(name)
        if schema is None:
            schema = CollectionSchema(vectors=vectors or {}, payload=payload or {})
        elif vectors is not None or payload is not None:
            raise InvalidArgument("give either schema= or vectors=/payload=, not both")
        layout = {}
        for slot, (fname, f) in enumerate(schema.vectors.items()):
            if isinstance(f, MultiVector):  # tokens live in chunks; the FDE is a hidden dense field
                fde = f.fde_field()
                layout[fname] = {
                    "slot": slot,
                    "fde_slot": FDE_SLOT_BASE + slot,
                    "fde_block_rows": block_rows_for(fde.row_bytes),
                }
            else:
                layout[fname] = {"slot": slot, "block_rows": block_rows_for(f.row_bytes)}
        catalog = self._env.db["catalog"]

        def tx(txn) -> dict[str, Any]:
            if txn.get(_ALIAS + name.encode(), db=catalog) is not None:
                raise AlreadyExists(f"{name!r} is an alias; delete the alias or choose another name")
            existing = self._descriptor(txn, name)
            if existing is not None:
                if exist_ok and CollectionSchema.from_dict(existing["schema"]) == schema:
                    return existing
                raise AlreadyExists(
                    f"collection {name!r} already exists"
                    + (" with a different schema" if exist_ok else "; use get_collection or drop it first")
                )
            raw_uid = txn.get(_NEXT_UID, db=catalog)
            uid = int(bytes(raw_uid)) if raw_uid is not None else 1
            txn.put(_NEXT_UID, str(uid + 1).encode(), db=catalog)
            desc = {"uid": uid, "schema": schema.to_dict(), "layout": layout, "created_at": time.time()}
            txn.put(_COL + name.encode(), json.dumps(desc).encode(), db=catalog)
            txn.put(meta_key(uid, b"state"), State().pack(), db=self._env.db["meta"])
            return desc

        return self._collection(name, self._env.write(tx))

    def get_collection(self, name: str) -> Collection:
        """The collection called `name`, or the one the alias `name` points to."""
        check_collection_name(name)
        with self._env.read() as txn:
            desc = self._descriptor(txn, name)
            if desc is None:
                target = txn.get(_ALIAS + name.encode(), db=self._env.db["catalog"])
                if target is not None:
                    name = bytes(target).decode()
                    desc = self._descriptor(txn, name)
        if desc is None:
            raise NotFound(f"no collection or alias named {name!r}")
        return self._collection(name, desc)

    __getitem__ = get_collection

    def has_collection(self, name: str) -> bool:
        check_collection_name(name)
        with self._env.read() as txn:
            return self._descriptor(txn, name) is not None

    def list_collections(self) -> list[str]:
        names = []
        with self._env.read() as txn, txn.cursor(db=self._env.db["catalog"]) as cur:
            if cur.set_range(_COL):
                for key in cur.iternext(values=False):
                    key = bytes(key)
                    if not key.startswith(_COL):
                        break
                    names.append(key[len(_COL) :].decode())
        return names

    def drop_collection(self, name: str, *, missing_ok: bool = False) -> bool:
        """Delete a collection and all its data in one transaction. Returns False if it did not exist."""
        check_collection_name(name)

        def tx(txn) -> bool:
            desc = self._descriptor(txn, name)
            if desc is None:
                if missing_ok:
                    return False
                raise NotFound(f"no collection named {name!r}")
            catalog = self._env.db["catalog"]
            txn.delete(_COL + name.encode(), db=catalog)
            drop_collection_data(txn, self._env.db, int(desc["uid"]))
            with txn.cursor(db=catalog) as cur:
                stale = [bytes(k) for k, v in cur if bytes(k).startswith(_ALIAS) and bytes(v) == name.encode()]
            for key in stale:
                txn.delete(key, db=catalog)
            return True

        dropped = self._env.write(tx)
        with self._lock:
            self._collections.pop(name, None)
        return dropped

    # ------------------------------------------------------------------ aliases
    def set_alias(self, alias: str, collection: str) -> None:
        """Point `alias` at `collection` (creating or atomically re-pointing it): clients that search through the
        alias switch to the new collection in one transaction, e.g. after a re-index into a fresh collection."""
        check_collection_name(alias)
        check_collection_name(collection)
        catalog = self._env.db["catalog"]

        def tx(txn) -> None:
            if self._descriptor(txn, alias) is not None:
                raise AlreadyExists(f"{alias!r} is a collection name; an alias cannot shadow it")
            if self._descriptor(txn, collection) is None:
                raise NotFound(f"no collection named {collection!r}")
            txn.put(_ALIAS + alias.encode(), collection.encode(), db=catalog)

        self._env.write(tx)

    def _flip_alias_if(self, alias: str, source, source_generation: int, target, field: str, version: str) -> bool:
        """One transaction: if `source` has had no write since source_generation, record `version` as the index
        version of target's field and point `alias` at target. False (nothing changed) otherwise."""
        catalog = self._env.db["catalog"]

        def tx(txn) -> bool:
            if source._state(txn).generation != source_generation:
                return False
            target._state(txn)
            target._models[field].set_index_version(txn, self._env.db["aux"], version)
            if self._descriptor(txn, alias) is not None:
                raise AlreadyExists(f"{alias!r} is a collection name; an alias cannot shadow it")
            txn.put(_ALIAS + alias.encode(), target.name.encode(), db=catalog)
            return True

        return self._env.write(tx)

    def delete_alias(self, alias: str) -> bool:
        check_collection_name(alias)
        return self._env.write(lambda txn: txn.delete(_ALIAS + alias.encode(), db=self._env.db["catalog"]))

    def list_aliases(self) -> dict[str, str]:
        out = {}
        with self._env.read() as txn, txn.cursor(db=self._env.db["catalog"]) as cur:
            if cur.set_range(_ALIAS):
                for key, val in cur:
                    key = bytes(key)
                    if not key.startswith(_ALIAS):
                        break
                    out[key[len(_ALIAS) :].decode()] = bytes(val).decode()
        return out

    # ------------------------------------------------------------------ maintenance
    def backup(self, path: str | os.PathLike) -> dict[str, Any]:
        """Write a consistent, compacted copy of the whole database to the empty directory `path` while reads and
        writes go on (one read snapshot). `vecdb.open(path)` opens the copy."""
        path = os.fspath(path)
        if os.path.exists(path) and os.listdir(path):
            raise AlreadyExists(f"backup target {path} is not empty")
        self._env.copy_to(path, compact=True)
        return {"path": path, "bytes": os.path.getsize(os.path.join(path, "data.mdb"))}

    def stats(self) -> dict[str, Any]:
        return {**self._env.stat(), "collections": len(self.list_collections())}


def open(  # noqa: A001 - the name users expect: vecdb.open(path)
    path: str | os.PathLike,
    *,
    read_only: bool = False,
    map_size: int | None = None,
    max_map_size: int = DEFAULT_MAX_MAP_SIZE,
    sync: bool = True,
    verify: bool = False,
) -> Database:
    """Open (creating if needed) the database in directory `path`.

    read_only: open an existing database for reads only (another process may be writing it).
    map_size / max_map_size: initial and largest LMDB map in bytes; the map doubles on demand up to the maximum,
    beyond which writes fail with StorageFull. sync=False trades durability of the last writes for speed.
    verify: first read the whole file in a child process and check it (vecdb.verify): damage is then reported as
    CorruptDatabase at open instead of surfacing later (LMDB keeps no checksums; see vecdb/verify.py).
    """
    return Database(path, read_only=read_only, map_size=map_size, max_map_size=max_map_size, sync=sync, verify=verify)
