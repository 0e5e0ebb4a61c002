"""The parsed form of a small stored value (collection state, graph meta, codec header, model registry), parsed
again only when its bytes change: every search reads these records, few writes change them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class ParsedCache:
    """Maps a stored value's raw bytes to its parsed form, remembering the last one. The (bytes, value) entry is
    replaced whole, so concurrent readers see either the old or the new pair, never a mix. Parsed values are shared:
    callers must not mutate them (hand out copies)."""

    __slots__ = ("_entry", "_parse")

    def __init__(self, parse: Callable[[bytes], Any]) -> None:
        self._parse = parse
        self._entry: tuple[bytes, Any] | None = None

    def get(self, raw) -> Any:
        raw = bytes(raw)
        entry = self._entry
        if entry is not None and entry[0] == raw:
            return entry[1]
        value = self._parse(raw)
        self._entry = (raw, value)
        return value
