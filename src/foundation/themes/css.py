"""The current theme as CSS custom properties (api.md §3, "Runtime theming").

Every token of the three categories becomes ``--<name with dots replaced by dashes>``, the way the frontend
applies tokens; on a clash the later category wins (foundation, then semantic, then component), and within a
category the later name in sorted order. Declarations are written in the rule
``:root[data-tenant="<slug>"]`` (plus ``:root`` with ``?root=1``), sorted by property name, one per line.

Token names are restricted by the publish endpoint (``[A-Za-z0-9]`` words joined by ``.`` or ``-``), so a
property name is always a valid custom-property ident. Token values are any string of up to 256 characters;
:func:`css_value` writes them so that no value can end its declaration or its rule, open a comment, swallow
what follows, or end an HTML ``<style>`` element: ``;``, ``{``, ``}``, ``<``, ``>``, backslashes, control
characters, unpaired quotes and unbalanced brackets are written as CSS escapes (``\\3b `` …), which the CSS
tokenizer reads as plain characters of an identifier or a string, never as syntax. Ordinary values
(``#0F5132``, ``16px``, ``"Inter", sans-serif``, ``rgba(0, 0, 0, .5)``, ``calc(1rem + 2px)``) are written as
they are.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from foundation.http.json_encoding import weak_etag_of_canonical
from foundation.themes.service import CATEGORY_KEYS

CSS_MEDIA_TYPE = "text/css; charset=utf-8"
# Characters written as they are outside strings; everything else is escaped (or kept when it is a paired
# quote or bracket). ``/`` and ``*`` are added below only where they cannot form a comment.
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 #%+-_.,:!=@$^~|?&")
_PLAIN_IN_STRING = _PLAIN | frozenset("/*()[]'`;{}")
_OPENERS = {"(": ")", "[": "]"}
_CLOSERS = {")": "(", "]": "["}


class CssResponse(Response):
    media_type = CSS_MEDIA_TYPE


@dataclass(frozen=True)
class ThemeCss:
    body: bytes
    etag: str


def custom_property(token: str) -> str:
    return "--" + token.replace(".", "-")


def _escape(char: str) -> str:
    return f"\\{ord(char):x} "


def _is_printable(char: str) -> bool:
    return ord(char) >= 0x80 and unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def _string_spans(value: str) -> dict[int, int]:
    """Start → end index of each quoted string closed on its line (an unclosed quote starts no string)."""
    spans: dict[int, int] = {}
    index = 0
    while index < len(value):
        char = value[index]
        if char in "\"'":
            end = value.find(char, index + 1)
            if end != -1 and not any(c in "\n\r\f" for c in value[index + 1 : end]):
                spans[index] = end
                index = end + 1
                continue
        index += 1
    return spans


def _paired_brackets(value: str, strings: dict[int, int]) -> set[int]:
    """Indexes of ``(`` ``)`` ``[`` ``]`` (outside strings) that close what they open."""
    paired: set[int] = set()
    stack: list[int] = []
    index = 0
    while index < len(value):
        if index in strings:
            index = strings[index] + 1
            continue
        char = value[index]
        if char in _OPENERS:
            stack.append(index)
        elif char in _CLOSERS:
            if stack and value[stack[-1]] == _CLOSERS[char]:
                paired.update((stack.pop(), index))
            else:
                stack.clear()  # an unmatched closer: nothing before it may pair across it
        index += 1
    return paired


def _plain_outside_strings(value: str, index: int, paired: set[int], written: list[str]) -> bool:
    char = value[index]
    if char in _PLAIN or index in paired or _is_printable(char):
        return True
    if char == "/":
        return value[index + 1 : index + 2] != "*"  # never the start of a comment
    return char == "*" and not (written and written[-1] == "/")


def css_value(value: str) -> str:
    """``value`` written so that it stays inside its declaration (see the module docstring)."""
    strings = _string_spans(value)
    paired = _paired_brackets(value, strings)
    out: list[str] = []
    index = 0
    while index < len(value):
        if index in strings:
            end = strings[index]
            inner = value[index + 1 : end]
            quote = value[index]
            out.append(quote)
            out.extend(c if c in _PLAIN_IN_STRING or _is_printable(c) else _escape(c) for c in inner)
            out.append(quote)
            index = end + 1
            continue
        char = value[index]
        out.append(char if _plain_outside_strings(value, index, paired, out) else _escape(char))
        index += 1
    return "".join(out)


def _selector_string(slug: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else _escape(c) for c in slug)


def _comment_text(text: str) -> str:
    """Slugs and SemVer versions are already safe in a comment; anything else would be replaced."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.+") else "?" for c in text)


def render_css(slug: str, version: str, categories: dict[str, dict[str, str]], *, root: bool) -> bytes:
    properties: dict[str, str] = {}
    for category in CATEGORY_KEYS:
        for token, value in sorted(categories.get(category, {}).items()):
            properties[custom_property(token)] = value
    selector = f':root[data-tenant="{_selector_string(slug)}"]'
    if root:
        selector += ",\n:root"
    lines = [
        f"/* IABank Foundation: theme {_comment_text(version)} of {_comment_text(slug)}"
        " (generated from the design tokens; do not edit) */",
        selector + " {",
        *(f"  {name}: {css_value(value)};" for name, value in sorted(properties.items())),
        "}",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def stylesheet(slug: str, theme_document: bytes, *, root: bool) -> ThemeCss:
    """The stylesheet of a stored current-theme representation; its ETag derives from its bytes (which follow
    from the stored canonical theme, so every process computes the same one)."""
    representation: dict[str, Any] = json.loads(theme_document)
    body = render_css(slug, representation["version"], representation["categories"], root=root)
    return ThemeCss(body, weak_etag_of_canonical(body))
