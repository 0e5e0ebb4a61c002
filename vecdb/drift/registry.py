"""The model-version registry of a vector field, stored in LMDB with the collection.

A field records the version of the model its vectors came from (the index version) and, for every other query
version, a fitted DriftMap into the index space. Searches carry the query's version; the map is applied before
the query is normalised and searched, or the search is refused when no map exists.
Record: aux uid + b"V" + field slot -> JSON {"index_version", "maps": {version: {kind, d_src, d_dst, fit}}};
each map's arrays: uid + b"W" + field slot + version -> state.
"""

from __future__ import annotations

import json
import re
import struct
import threading
from typing import Any

from ..errors import InvalidArgument, NotFound
from ..storage.blocks import delete_prefix
from ..storage.parsed import ParsedCache
from ..storage.states import get_state, put_state
from .maps import DriftMap

_VERSION = re.compile(r"^[A-Za-z0-9_.:@+\-/]{1,128}$")


def check_version(v: object) -> str:
    if not isinstance(v, str) or not _VERSION.fullmatch(v):
        raise InvalidArgument(f"model version {v!r} is invalid: 1-128 characters of letters, digits and _.:@+-/")
    return v


class ModelRegistry:
    def __init__(self, uid: int, slot: int, field_name: str) -> None:
        p = struct.pack(">I", uid)
        s = struct.pack(">H", slot)
        self.field = field_name
        self._key = p + b"V" + s
        self._map_prefix = p + b"W" + s
        self._lock = threading.Lock()
        self._cache = ParsedCache(json.loads)
        self._maps: dict[tuple[str, int], DriftMap] = {}

    def record(self, txn, aux) -> dict[str, Any]:
        raw = txn.get(self._key, db=aux)
        if raw is None:
            return {"index_version": None, "maps": {}, "generation": 0}
        return self._cache.get(raw)

    def _put(self, txn, aux, rec: dict[str, Any]) -> None:
        rec = {**rec, "generation": rec.get("generation", 0) + 1}
        txn.put(self._key, json.dumps(rec).encode(), db=aux)

    def set_index_version(self, txn, aux, version: str) -> None:
        rec = dict(self.record(txn, aux))
        if version in rec["maps"]:
            raise InvalidArgument(
                f"version {version!r} has a query map into field {self.field!r}; drop the map "
                "before making it the index version"
            )
        rec["index_version"] = version
        self._put(txn, aux, rec)

    def put_map(self, txn, aux, version: str, m: DriftMap) -> None:
        rec = dict(self.record(txn, aux))
        if version == rec["index_version"]:
            raise InvalidArgument(f"{version!r} is the index version of field {self.field!r}: its queries need no map")
        rec["maps"] = {
            **rec["maps"],
            version: {"kind": m.kind, "d_src": m.d_src, "d_dst": m.d_dst, "fit": m.info.to_dict()},
        }
        put_state(txn, aux, self._map_prefix + version.encode(), *m.state())
        self._put(txn, aux, rec)

    def drop_map(self, txn, aux, version: str) -> bool:
        rec = dict(self.record(txn, aux))
        if version not in rec["maps"]:
            return False
        rec["maps"] = {k: v for k, v in rec["maps"].items() if k != version}
        txn.delete(self._map_prefix + version.encode(), db=aux)
        self._put(txn, aux, rec)
        return True

    def resolve(self, txn, aux, version: str | None) -> DriftMap | None:
        """The map for queries of `version` (None when they need none), or NotFound naming what to do."""
        if version is None:
            return None
        rec = self.record(txn, aux)
        if version == rec["index_version"]:
            return None
        if version not in rec["maps"]:
            have = ", ".join(sorted(rec["maps"])) or "none"
            raise NotFound(
                f"no query map from model version {version!r} into field {self.field!r} (index version "
                f"{rec['index_version']!r}; mapped versions: {have}): fit one with fit_query_map"
            )
        key = (version, rec["generation"])
        m = self._maps.get(key)
        if m is None:
            state = get_state(txn, aux, self._map_prefix + version.encode())
            if state is None:
                raise NotFound(f"the query map of version {version!r} is registered but missing")
            m = DriftMap.from_state(*state)
            with self._lock:
                self._maps = {k: v for k, v in self._maps.items() if k[0] != version}
                self._maps[key] = m
        return m

    def clear(self, txn, aux) -> None:
        txn.delete(self._key, db=aux)
        delete_prefix(txn, aux, self._map_prefix)
