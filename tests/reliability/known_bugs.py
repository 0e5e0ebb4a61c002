"""Engine bugs the fuzzers found and reported to the lead (the engine is not ours to edit), each with the
signature by which a fuzz run recognises it ("ExceptionName: message", or a status's details). A hit is counted
and reported, never silently passed, until the bug is fixed and its entry removed."""

from __future__ import annotations

import re

# Empty: the bugs the fuzzers found (huge integers in float filters/payloads -> OverflowError, a schema whose
# "payload" is not a mapping, names accepted with a trailing newline, unchecked calibrate / fit_query_map
# arguments) are fixed, each with a regression test. A new one is added here with its signature until fixed.
KNOWN_BUGS: dict[str, re.Pattern] = {}


def known_bug(text: str) -> str | None:
    """The name of the known bug whose signature `text` shows, else None."""
    for name, pattern in KNOWN_BUGS.items():
        if pattern.search(text):
            return name
    return None
