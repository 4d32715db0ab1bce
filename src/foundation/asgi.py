"""ASGI helpers below every layer: reading request headers from a scope. Which copy of a repeated header
counts is decided here once: the first, as Starlette (and so FastAPI) reads it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain

from starlette.types import Scope


def first_header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower-case bytes), or None. Names are compared as the server
    delivers them, lower-cased (ASGI servers do; Starlette's ``Headers`` relies on the same)."""
    for key, value in scope.get("headers") or ():
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


def header_text(scope: Scope, name: bytes) -> str | None:
    value = first_header(scope, name)
    return value.decode("latin-1") if value is not None else None


def header_map(headers: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """Lower-case name → the first value of each header."""
    found: dict[bytes, bytes] = {}
    for name, value in headers:
        found.setdefault(name.lower(), value)
    return found


def header_block_size(headers: Sequence[tuple[bytes, bytes]]) -> int:
    """Bytes of a header block as sent: name, ": ", value and CRLF per header (summed in C: no generator
    frame per header on every request)."""
    return sum(map(len, chain.from_iterable(headers))) + 4 * len(headers)
