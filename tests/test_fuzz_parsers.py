"""Hypothesis fuzzing of the parsers hostile input reaches first: vecdb.filters.from_dict / validate,
CollectionSchema.from_dict, payload normalisation, and every from_pb_* conversion the server applies to requests.
The only exception allowed out is InvalidArgument; whatever parses must survive its round trips (dict form, wire
form) unchanged. Known engine bugs (tests/reliability/known_bugs.py, empty now) would be counted apart.

VECDB_FUZZ_EXAMPLES sets the examples per test (default 150; the on-demand run uses thousands)."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from vecdb import filters as F
from vecdb import payload as payload_codec
from vecdb.errors import InvalidArgument
from vecdb.schema import CollectionSchema, PayloadType
from vecdb_client import convert as C
from vecdb_client.pb import points_pb2, types_pb2

sys.path.insert(0, str(Path(__file__).parent / "reliability"))
import fuzz_strategies as S  # noqa: E402
from known_bugs import known_bug  # noqa: E402

SCHEMA_PAYLOAD = {k: PayloadType(v) for k, v in S.PAYLOAD_SCHEMA.items()}
EXAMPLES = int(os.environ.get("VECDB_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    database=None,  # nothing written into the working directory
    deadline=None,
    derandomize=os.environ.get("VECDB_FUZZ_RANDOM") is None,  # CI sees the same examples every run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
KNOWN_HITS: Counter = Counter()


def clear(fn, *args):
    """fn(*args), or None when it refused the input with InvalidArgument (or hit a known, reported bug)."""
    try:
        return fn(*args)
    except InvalidArgument:
        return None
    except Exception as e:
        name = known_bug(f"{type(e).__name__}: {e}")
        if name is None:
            raise
        KNOWN_HITS[name] += 1
        return None


stored_payloads = st.fixed_dictionaries(
    {},
    optional={
        "n": st.integers(-(2**63), 2**63 - 1),
        "x": st.floats(allow_nan=False, allow_infinity=False),
        "kw": st.text(max_size=4),
        "tags": st.lists(st.text(max_size=3), max_size=3).map(lambda t: sorted(set(t))),
        "b": st.booleans(),
        "d": st.integers(-(2**63), 2**63 - 1),
    },
)


@FUZZ
@given(d=S.filter_dicts | S.deep_filter_dict(), payloads=st.lists(stored_payloads, max_size=3))
def test_filter_dicts(d, payloads):
    f = clear(F.from_dict, d)
    if f is None:
        return event("refused by from_dict")
    g = clear(F.validate, f, SCHEMA_PAYLOAD)
    if g is None:
        return event("refused by validate")
    event("valid filter")
    for p in payloads:
        assert isinstance(F.matches(g, p, SCHEMA_PAYLOAD), bool)
    assert F.validate(F.from_dict(F.to_dict(g)), SCHEMA_PAYLOAD) == g  # the dict form round-trips
    assert F.validate(C.from_pb_filter(C.to_pb_filter(g)), SCHEMA_PAYLOAD) == g  # so does the wire form


@FUZZ
@given(d=S.schema_dicts)
def test_schema_dicts(d):
    schema = clear(CollectionSchema.from_dict, d)
    event("refused" if schema is None else "valid schema")
    if schema is None:
        return
    assert CollectionSchema.from_dict(schema.to_dict()) == schema
    assert C.from_pb_schema(C.to_pb_schema(schema)) == schema


@FUZZ
@given(doc=S.typed_payloads | S.typed_payloads | S.json_like | st.dictionaries(S.field_names, S.json_like))
def test_payloads(doc):
    norm = clear(payload_codec.normalize, doc, SCHEMA_PAYLOAD, "point 1")
    if norm is None:
        return event("refused by normalize")
    raw = clear(payload_codec.encode, norm, "point 1")
    if raw is None:
        return event("refused by encode")
    event("valid payload")
    assert payload_codec.decode(raw) == norm


@FUZZ
@given(data=st.data())
def test_wire_conversions(data):
    """Every from_pb_* the server runs on a request: InvalidArgument or a value, never another exception."""
    f = types_pb2.Filter()
    data.draw(S.filter_pb(f))
    g = clear(C.from_pb_filter, f)
    if g is not None:
        clear(F.validate, g, SCHEMA_PAYLOAD)
    clear(C.from_pb_tensor, data.draw(S.tensor()))
    for as_array in (False, True):
        clear(lambda m, a=as_array: C.from_pb_ids(m, as_array=a), data.draw(S.point_ids()))
    clear(C.from_pb_id, data.draw(S.point_id()))
    v = types_pb2.Value()
    data.draw(S.value(v))
    clear(C.from_pb_value, v)
    clear(
        C.from_pb_payload, data.draw(st.binary(max_size=40) | S.json_values.map(lambda x: json.dumps(x).encode())), None
    )
    clear(C.from_pb_schema, data.draw(S.create_request()).schema)
    up = data.draw(S.upsert_request())
    clear(C.from_pb_field_vectors, up.vectors)
    for raw in up.payloads:
        clear(C.from_pb_payload, raw, None)
    clear(C.from_pb_search_params, data.draw(S.search_request()).params)


def test_deep_json_payload_is_invalid_argument():
    """json.loads raises RecursionError (not ValueError) on deep nesting: the converter must still answer clearly."""
    with pytest.raises(InvalidArgument, match="payload"):
        C.from_pb_payload(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}")


def test_points_response_with_hostile_fields_is_invalid_argument():
    m = points_pb2.PointsResponse(with_payload=True)
    m.ids.uint64_le = b"\0" * 16
    m.payloads.append(b"{}")
    with pytest.raises(InvalidArgument, match="1 payloads for 2"):
        C.from_pb_points(m)


# ---------------------------------------------------------------------------------------------- known engine bugs
@pytest.mark.parametrize(
    "f", [F.eq("x", 10**400), F.range_("x", gt=10**400), F.range_("n", lte=-(10**400))], ids=["eq", "gt", "lte"]
)
def test_bug_huge_int_in_filter_is_invalid_argument(f):
    with pytest.raises(InvalidArgument):
        F.validate(f, SCHEMA_PAYLOAD)


def test_bug_huge_int_in_float_payload_is_invalid_argument():
    with pytest.raises(InvalidArgument):
        payload_codec.normalize({"x": 10**400}, SCHEMA_PAYLOAD, "point 1")


@pytest.mark.parametrize("payload", ["ab", 5, [1, 2]])
def test_bug_schema_payload_not_a_mapping_is_invalid_argument(payload):
    with pytest.raises(InvalidArgument):
        CollectionSchema.from_dict({"vectors": {"v": {"dim": 2}}, "payload": payload})


def test_no_known_bug_hides_an_error():
    """Every reported bug is fixed: the allow-list is empty, so no fuzz failure can be excused by it."""
    assert known_bug("OverflowError: int too large to convert to float") is None
    assert known_bug("RecursionError: maximum recursion depth exceeded") is None
