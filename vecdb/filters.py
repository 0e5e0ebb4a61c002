"""Filter expressions over declared payload fields: frozen dataclasses, combinable with & | ~.

    from vecdb.filters import eq, isin, range_, contains_any
    f = eq("lang", "en") & range_("year", gte=2020) & ~contains_any("tags", ["draft"])

Semantics (the plain-Python `matches` below is the reference; the payload index must agree with it):
- A missing or null field never equals, is never in a set, never lies in a range and contains nothing.
  `ne`, `not_in` and `not_` are exact negations, so a point without the field matches ne("f", x).
- eq/ne/isin/not_in on a keyword_set field test membership of the value(s) in the point's set.
- range_ applies to integer, float and datetime fields (bounds are numbers; datetimes may be given as
  datetime objects). contains_any / contains_all apply to keyword_set fields.
- exists: the field is present and not null; for a keyword_set, not empty either (an empty set says nothing).
Filters are validated against the schema before anything runs: unknown field, wrong value type, empty list,
empty range, or nesting deeper than MAX_DEPTH -> InvalidArgument.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidArgument
from .payload import datetime_to_micros
from .schema import PayloadType

MAX_DEPTH = 32
MAX_VALUES = 10_000
_ORDERED = (PayloadType.INTEGER, PayloadType.FLOAT, PayloadType.DATETIME)


class Filter:
    """Base of every filter node."""

    def __and__(self, other: Filter) -> Filter:
        return And((self, _check_node(other)))

    def __or__(self, other: Filter) -> Filter:
        return Or((self, _check_node(other)))

    def __invert__(self) -> Filter:
        return Not(self)


def _check_node(f: object) -> Filter:
    if not isinstance(f, Filter):
        raise InvalidArgument(f"expected a filter, got {type(f).__name__}: {f!r}")
    return f


@dataclass(frozen=True)
class Eq(Filter):
    field: str
    value: Any


@dataclass(frozen=True)
class Ne(Filter):
    field: str
    value: Any


@dataclass(frozen=True)
class In(Filter):
    field: str
    values: tuple


@dataclass(frozen=True)
class NotIn(Filter):
    field: str
    values: tuple


@dataclass(frozen=True)
class Range(Filter):
    field: str
    gt: Any = None
    gte: Any = None
    lt: Any = None
    lte: Any = None


@dataclass(frozen=True)
class ContainsAny(Filter):
    field: str
    values: tuple


@dataclass(frozen=True)
class ContainsAll(Filter):
    field: str
    values: tuple


@dataclass(frozen=True)
class Exists(Filter):
    field: str


@dataclass(frozen=True)
class And(Filter):
    filters: tuple


@dataclass(frozen=True)
class Or(Filter):
    filters: tuple


@dataclass(frozen=True)
class Not(Filter):
    filter: Filter


# ---------------------------------------------------------------------- constructors
def eq(field: str, value: Any) -> Eq:
    return Eq(field, value)


def ne(field: str, value: Any) -> Ne:
    return Ne(field, value)


def isin(field: str, values) -> In:
    return In(field, _as_tuple(values, "isin"))


def not_in(field: str, values) -> NotIn:
    return NotIn(field, _as_tuple(values, "not_in"))


def range_(field: str, *, gt=None, gte=None, lt=None, lte=None) -> Range:
    return Range(field, gt, gte, lt, lte)


def contains_any(field: str, values) -> ContainsAny:
    return ContainsAny(field, _as_tuple(values, "contains_any"))


def contains_all(field: str, values) -> ContainsAll:
    return ContainsAll(field, _as_tuple(values, "contains_all"))


def exists(field: str) -> Exists:
    return Exists(field)


def and_(*filters: Filter) -> And:
    return And(tuple(_check_node(f) for f in filters))


def or_(*filters: Filter) -> Or:
    return Or(tuple(_check_node(f) for f in filters))


def not_(f: Filter) -> Not:
    return Not(_check_node(f))


def _as_tuple(values, what: str) -> tuple:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise InvalidArgument(f"{what} takes a list of values, got {values!r}")
    return tuple(values)


# ---------------------------------------------------------------------- validation
def _value_ok(t: PayloadType, v: Any) -> bool:
    if t in (PayloadType.KEYWORD, PayloadType.KEYWORD_SET):
        return isinstance(v, str)
    if t is PayloadType.BOOLEAN:
        return isinstance(v, bool)
    if t is PayloadType.INTEGER:
        return isinstance(v, int) and not isinstance(v, bool)
    if t is PayloadType.FLOAT:
        return _finite_number(v)
    if t is PayloadType.DATETIME:
        return isinstance(v, _dt.datetime) or (isinstance(v, int) and not isinstance(v, bool))
    return False


def _norm_value(t: PayloadType, v: Any) -> Any:
    if t is PayloadType.DATETIME and isinstance(v, _dt.datetime):
        return datetime_to_micros(v)
    if t is PayloadType.FLOAT:
        return float(v)
    return v


def _bound_ok(t: PayloadType, v: Any) -> bool:
    if t is PayloadType.DATETIME and isinstance(v, _dt.datetime):
        return True
    return _finite_number(v)


def _finite_number(v: Any) -> bool:
    """An int or float a float column can hold (an int beyond float range is not: math.isfinite would raise)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def validate(f: object, schema_payload: Mapping[str, PayloadType], depth: int = 0) -> Filter:
    """Check f against the declared payload fields; returns an equivalent filter with values normalised
    (datetimes to microseconds, floats as float). Raises InvalidArgument naming the first problem."""
    if depth > MAX_DEPTH:
        raise InvalidArgument(f"filter nested deeper than {MAX_DEPTH} levels")
    f = _check_node(f)
    if isinstance(f, (And, Or)):
        kind = "and" if isinstance(f, And) else "or"
        if not isinstance(f.filters, tuple) or not f.filters:
            raise InvalidArgument(f"'{kind}' needs at least one filter")
        return type(f)(tuple(validate(x, schema_payload, depth + 1) for x in f.filters))
    if isinstance(f, Not):
        return Not(validate(f.filter, schema_payload, depth + 1))
    name = f.field
    if not isinstance(name, str):
        raise InvalidArgument(f"filter field must be a string, got {name!r}")
    t = schema_payload.get(name)
    if t is None:
        declared = ", ".join(sorted(schema_payload)) or "none"
        raise InvalidArgument(f"filter on undeclared payload field {name!r} (declared: {declared})")
    op = type(f).__name__.lower()
    if isinstance(f, Exists):
        return f
    if isinstance(f, Range):
        if t not in _ORDERED:
            raise InvalidArgument(f"range on {t.value} field {name!r}: ranges need integer, float or datetime")
        bounds = {k: getattr(f, k) for k in ("gt", "gte", "lt", "lte") if getattr(f, k) is not None}
        if not bounds:
            raise InvalidArgument(f"range on {name!r} needs at least one of gt, gte, lt, lte")
        if "gt" in bounds and "gte" in bounds or "lt" in bounds and "lte" in bounds:
            raise InvalidArgument(f"range on {name!r}: give gt or gte, lt or lte, not both")
        for k, v in bounds.items():
            if not _bound_ok(t, v):
                raise InvalidArgument(f"range bound {k}={v!r} on {t.value} field {name!r} is not a finite number")
        return Range(name, **{k: _norm_value(t, v) for k, v in bounds.items()})
    if isinstance(f, (ContainsAny, ContainsAll)):
        if t is not PayloadType.KEYWORD_SET:
            raise InvalidArgument(f"{op} on {t.value} field {name!r}: it applies to keyword_set fields")
    values = (f.value,) if isinstance(f, (Eq, Ne)) else f.values
    if not isinstance(values, tuple):
        raise InvalidArgument(f"{op} on {name!r} takes a list of values")
    if not values:
        raise InvalidArgument(f"{op} on {name!r} has an empty value list")
    if len(values) > MAX_VALUES:
        raise InvalidArgument(f"{op} on {name!r} has {len(values)} values; the limit is {MAX_VALUES}")
    for v in values:
        if not _value_ok(t, v):
            raise InvalidArgument(
                f"{op} on {t.value} field {name!r}: value {v!r} ({type(v).__name__}) has the wrong type"
            )
    norm = tuple(_norm_value(t, v) for v in values)
    if isinstance(f, (Eq, Ne)):
        return type(f)(name, norm[0])
    return type(f)(name, norm)


# ---------------------------------------------------------------------- reference evaluation
def matches(f: Filter, payload: Mapping[str, Any], schema_payload: Mapping[str, PayloadType]) -> bool:
    """Plain-Python semantics of a validated filter on one stored payload."""
    if isinstance(f, And):
        return all(matches(x, payload, schema_payload) for x in f.filters)
    if isinstance(f, Or):
        return any(matches(x, payload, schema_payload) for x in f.filters)
    if isinstance(f, Not):
        return not matches(f.filter, payload, schema_payload)
    if isinstance(f, Ne):
        return not matches(Eq(f.field, f.value), payload, schema_payload)
    if isinstance(f, NotIn):
        return not matches(In(f.field, f.values), payload, schema_payload)
    v = payload.get(f.field)
    if v is None:
        return False
    is_set = schema_payload[f.field] is PayloadType.KEYWORD_SET
    if isinstance(f, Exists):
        return bool(v) if is_set else True
    if isinstance(f, Eq):
        return f.value in v if is_set else _same(v, f.value)
    if isinstance(f, In):
        return any(x in v for x in f.values) if is_set else any(_same(v, x) for x in f.values)
    if isinstance(f, ContainsAny):
        return any(x in v for x in f.values)
    if isinstance(f, ContainsAll):
        return all(x in v for x in f.values)
    if isinstance(f, Range):
        return (
            (f.gt is None or v > f.gt)
            and (f.gte is None or v >= f.gte)
            and (f.lt is None or v < f.lt)
            and (f.lte is None or v <= f.lte)
        )
    raise InvalidArgument(f"unknown filter node {f!r}")  # pragma: no cover


def _same(a: Any, b: Any) -> bool:
    # bool is an int in Python: keep True distinct from 1 so boolean and integer fields never cross-match
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


# ---------------------------------------------------------------------- dict form (wire, JSON)
_LEAF = {"eq": Eq, "ne": Ne, "in": In, "not_in": NotIn, "contains_any": ContainsAny, "contains_all": ContainsAll}


def to_dict(f: Filter) -> dict:
    if isinstance(f, (And, Or)):
        return {"and" if isinstance(f, And) else "or": [to_dict(x) for x in f.filters]}
    if isinstance(f, Not):
        return {"not": to_dict(f.filter)}
    if isinstance(f, Exists):
        return {"exists": {"field": f.field}}
    if isinstance(f, Range):
        return {
            "range": {
                "field": f.field,
                **{k: getattr(f, k) for k in ("gt", "gte", "lt", "lte") if getattr(f, k) is not None},
            }
        }
    for key, cls in _LEAF.items():
        if type(f) is cls:
            if isinstance(f, (Eq, Ne)):
                return {key: {"field": f.field, "value": f.value}}
            return {key: {"field": f.field, "values": list(f.values)}}
    raise InvalidArgument(f"unknown filter node {f!r}")


def from_dict(d: object, depth: int = 0) -> Filter:
    if depth > MAX_DEPTH:
        raise InvalidArgument(f"filter nested deeper than {MAX_DEPTH} levels")
    if not isinstance(d, Mapping) or len(d) != 1:
        raise InvalidArgument(f"a filter is a dict with exactly one operator key, got {d!r}")
    ((op, arg),) = d.items()
    if op in ("and", "or"):
        if not isinstance(arg, list):
            raise InvalidArgument(f"'{op}' takes a list of filters")
        return (And if op == "and" else Or)(tuple(from_dict(x, depth + 1) for x in arg))
    if op == "not":
        return Not(from_dict(arg, depth + 1))
    if not isinstance(arg, Mapping) or "field" not in arg:
        raise InvalidArgument(f"'{op}' needs a dict with a 'field'")
    if op == "exists":
        return Exists(arg["field"])
    if op == "range":
        return Range(arg["field"], arg.get("gt"), arg.get("gte"), arg.get("lt"), arg.get("lte"))
    cls = _LEAF.get(op)
    if cls is None:
        raise InvalidArgument(f"unknown filter operator {op!r}")
    if cls in (Eq, Ne):
        return cls(arg["field"], arg.get("value"))
    values = arg.get("values")
    if not isinstance(values, list):
        raise InvalidArgument(f"'{op}' needs a list of 'values'")
    return cls(arg["field"], tuple(values))
