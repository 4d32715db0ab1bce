"""The request guard's body scans skip their byte-by-byte work when a cheap count proves the answer; the
verdicts must stay those of the full scans (kept here as the reference)."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from foundation.http.request_guard import contains_nul_escape, json_depth_exceeds

_REFERENCE_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)


def reference_depth_exceeds(body: bytes, limit: int) -> bool:
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def reference_nul(body: bytes) -> bool:
    return b"\x00" in body or _REFERENCE_NUL.search(body) is not None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\u0aA ', max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=30,
)
raw_bodies = st.binary(max_size=64) | st.text(alphabet='[]{}"\\u0U ', max_size=64).map(str.encode)


@settings(max_examples=400, deadline=None)
@given(value=json_values, limit=st.integers(min_value=0, max_value=6))
def test_depth_verdict_equals_the_full_scan_on_json(value: object, limit: int) -> None:
    body = json.dumps(value).encode()
    assert json_depth_exceeds(body, limit) == reference_depth_exceeds(body, limit)


@settings(max_examples=400, deadline=None)
@given(body=raw_bodies, limit=st.integers(min_value=0, max_value=6))
def test_depth_and_nul_verdicts_equal_the_full_scans_on_any_bytes(body: bytes, limit: int) -> None:
    assert json_depth_exceeds(body, limit) == reference_depth_exceeds(body, limit)
    assert contains_nul_escape(body) == reference_nul(body)


def test_boundaries() -> None:
    assert not json_depth_exceeds(b"[[[]]]", 3) and json_depth_exceeds(b"[[[[]]]]", 3)
    assert not json_depth_exceeds(b'["[[[[[[", "{{{{{{"]', 2)  # brackets inside strings do not nest
    assert contains_nul_escape(b'{"a": "x\\u0000"}') and contains_nul_escape(b'{"a": "\\U0000"}')
    assert not contains_nul_escape(b'{"a": "x\\\\u0000"}')  # an escaped backslash, then plain text
    assert contains_nul_escape(b'{"a": "\x00"}')
