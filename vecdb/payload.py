"""Payload validation against the schema, and its storage encoding (compact JSON).

Declared fields are type-checked; undeclared keys are stored as given (they are returned, but not filterable).
Everything is checked before a write transaction opens, so a bad payload never leaves a half-written batch.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping
from typing import Any

from .errors import InvalidArgument
from .schema import PayloadType

MAX_PAYLOAD_BYTES = 1 << 20
_INT64 = (-(2**63), 2**63 - 1)
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def datetime_to_micros(v: _dt.datetime) -> int:
    if v.tzinfo is None:
        v = v.replace(tzinfo=_dt.UTC)
    return (v - _EPOCH) // _dt.timedelta(microseconds=1)


def _check_int(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise InvalidArgument(f"payload field {name!r} is an integer field; got {v!r} ({type(v).__name__})")
    if not _INT64[0] <= v <= _INT64[1]:
        raise InvalidArgument(f"payload field {name!r}: {v} is outside the signed 64-bit range")
    return v


def coerce_value(name: str, t: PayloadType, v: Any) -> Any:
    """The stored form of value v of declared field `name`, or InvalidArgument naming the problem."""
    if t is PayloadType.KEYWORD:
        if not isinstance(v, str):
            raise InvalidArgument(f"payload field {name!r} is a keyword field; got {v!r} ({type(v).__name__})")
        return v
    if t is PayloadType.INTEGER:
        return _check_int(name, _plain_number(v))
    if t is PayloadType.FLOAT:
        v = _plain_number(v)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InvalidArgument(f"payload field {name!r} is a float field; got {v!r} ({type(v).__name__})")
        try:
            finite = math.isfinite(v)
        except OverflowError:  # an int beyond float range
            finite = False
        if not finite:
            raise InvalidArgument(f"payload field {name!r} must be a finite float; got {str(v)[:40]!r}")
        return float(v)
    if t is PayloadType.BOOLEAN:
        if not isinstance(v, bool):
            raise InvalidArgument(f"payload field {name!r} is a boolean field; got {v!r} ({type(v).__name__})")
        return v
    if t is PayloadType.KEYWORD_SET:
        if isinstance(v, str) or not isinstance(v, (list, tuple, set, frozenset)):
            raise InvalidArgument(f"payload field {name!r} is a keyword_set field: give a list of strings, got {v!r}")
        items = list(v)
        for item in items:
            if not isinstance(item, str):
                raise InvalidArgument(f"payload field {name!r} holds non-string {item!r}; keyword_set takes strings")
        return sorted(set(items))
    if t is PayloadType.DATETIME:
        if isinstance(v, _dt.datetime):
            return datetime_to_micros(v)
        return _check_int(name, _plain_number(v))
    raise InvalidArgument(f"payload field {name!r} has unsupported type {t!r}")  # pragma: no cover


def _plain_number(v: Any) -> Any:
    # numpy scalars are common in payloads built from arrays; accept them as the Python numbers they are.
    item = getattr(v, "item", None)
    if item is not None and type(v).__module__ == "numpy":
        return item()
    return v


def normalize(payload: Any, declared: Mapping[str, PayloadType], where: str) -> dict[str, Any]:
    if payload is None:
        return {}
    if not isinstance(payload, Mapping):
        raise InvalidArgument(f"{where}: payload must be a dict, got {type(payload).__name__}")
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if not isinstance(key, str):
            raise InvalidArgument(f"{where}: payload keys must be strings, got {key!r}")
        t = declared.get(key)
        if value is None:
            out[key] = None
        elif t is None:
            out[key] = value
        else:
            try:
                out[key] = coerce_value(key, t, value)
            except InvalidArgument as e:
                raise InvalidArgument(f"{where}: {e}") from None
    return out


def encode(payload: dict[str, Any], where: str) -> bytes:
    try:
        raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"{where}: payload is not JSON-serialisable ({e})") from None
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise InvalidArgument(f"{where}: payload is {len(raw)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    return raw


def decode(raw) -> dict[str, Any]:
    return json.loads(bytes(raw)) if raw is not None else {}
