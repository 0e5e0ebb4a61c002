"""Engine bugs the fuzzers found and reported to the lead (the engine is not ours to edit), each with the
signature by which a fuzz run recognises it ("ExceptionName: message", or a status's details). A hit is counted
and reported, never silently passed; each bug also has a strict xfail test (tests/test_fuzz_parsers.py) that starts
failing the day the bug is fixed, so its entry here is removed then."""

from __future__ import annotations

import re

KNOWN_BUGS = {
    # vecdb/filters.py _value_ok/_bound_ok and vecdb/payload.py coerce_value call math.isfinite on Python ints,
    # which raises OverflowError beyond float range: a float field's eq/in value or any range bound of 10**400
    # (over the wire: Value.big_int = "1" + "0" * 400), or a float payload field holding the JSON integer 1e400
    # written out. Over gRPC the call answers INTERNAL instead of INVALID_ARGUMENT.
    "huge-int-isfinite": re.compile(r"OverflowError.*int too large to convert to float"),
    # vecdb/schema.py CollectionSchema.from_dict: dict(d.get("payload") or {}) raises ValueError/TypeError when
    # "payload" is not a mapping (a string, a number, a list of non-pairs). Not reachable over gRPC (the server
    # builds that dict itself), only through from_dict callers.
    "schema-payload-not-mapping": re.compile(
        r"^(ValueError: dictionary update sequence|TypeError: '\w+' object is not iterable|"
        r"TypeError: cannot convert dictionary update sequence)"
    ),
}


def known_bug(text: str) -> str | None:
    """The name of the known bug whose signature `text` shows, else None."""
    for name, pattern in KNOWN_BUGS.items():
        if pattern.search(text):
            return name
    return None
