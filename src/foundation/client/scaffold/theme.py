"""The tenant's current theme as the API serves it to browsers (``GET …/themes/current.css``), and the custom
properties the generated component uses, picked by role.

The component may only use properties the theme defines, and colours only in the pairs the theme defines
(the API checks those pairs for WCAG AA contrast when the theme is published): a surface with its ``on-``
text colour, an accent with its ``on-`` colour. A role the theme does not cover is left out of the styles
(the component then inherits), never filled with a property that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_DECLARATION = re.compile(r"^\s*(--[A-Za-z0-9-]+)\s*:", re.MULTILINE)
_TENANT = re.compile(r':root\[data-tenant="([a-z0-9-]+)"\]')

# Candidates in order of preference (regular expressions over the property name, case-insensitive).
_SURFACES: tuple[str, ...] = (
    r"--color-(neutral|surface|background)-(bg|default|base)",
    r"--color-(surface|background)",
    r"--(surface|background|bg)",
    r"--color-[a-z0-9-]*-bg",
    r"--[a-z0-9-]*-(bg|surface)",
)
_ACCENTS: tuple[str, ...] = (
    r"--color-brand-primary",
    r"--color-primary",
    r"--color-brand",
    r"--(brand|primary)",
    r"--color-[a-z0-9-]*-primary",
    r"--[a-z0-9-]*-primary",
)
_FONTS: tuple[str, ...] = (
    r"--font-family-(base|body|sans|default)",
    r"--font-family",
    r"--font-family-[a-z0-9-]+",
    r"--font(-[a-z0-9-]+)?",
)
_SPACES: tuple[str, ...] = (
    r"--space-(md|m|medium|base|4)",
    r"--spacing-(md|m|medium|base|4)",
    r"--(space|spacing)(-[a-z0-9]+)?",
)
_RADII: tuple[str, ...] = (
    r"--radius(-md|-base|-default)?",
    r"--[a-z0-9-]*-radius(-md)?",
    r"--[a-z0-9-]*radius[a-z0-9-]*",
)


@dataclass(frozen=True)
class Theme:
    tenant_slug: str | None
    properties: tuple[str, ...]  # every custom property the stylesheet declares, in order

    @classmethod
    def from_css(cls, css: str) -> Theme:
        tenant = _TENANT.search(css)
        return cls(tenant.group(1) if tenant else None, tuple(dict.fromkeys(_DECLARATION.findall(css))))


def _first(names: Sequence[str], patterns: Iterable[str]) -> str | None:
    for pattern in patterns:
        for name in names:
            if re.fullmatch(pattern, name, re.IGNORECASE):
                return name
    return None


def _on_partner(name: str, defined: set[str]) -> str | None:
    """The text colour the theme pairs with ``name`` (``P-N`` → ``P-on-N``; ``P-bg`` → ``P-on``)."""
    prefix, _, last = name.rpartition("-")
    candidates = [f"{prefix}-on-{last}"]
    if last == "bg":
        candidates.append(f"{prefix}-on")
    return next((candidate for candidate in candidates if candidate in defined), None)


def roles(theme: Theme) -> dict[str, str]:
    """Role → custom property, only for roles (and colour pairs) the theme defines."""
    names = [name for name in theme.properties if "-on-" not in name and not name.endswith("-on")]
    defined = set(theme.properties)
    chosen: dict[str, str] = {}
    for role, partner, patterns in (("surface", "onSurface", _SURFACES), ("accent", "onAccent", _ACCENTS)):
        for candidate in _ordered_matches(names, patterns):
            on = _on_partner(candidate, defined)
            if on is not None:
                chosen[role], chosen[partner] = candidate, on
                break
    for role, patterns in (("font", _FONTS), ("space", _SPACES), ("radius", _RADII)):
        found = _first(names, patterns)
        if found is not None:
            chosen[role] = found
    return chosen


def _ordered_matches(names: Sequence[str], patterns: Iterable[str]) -> list[str]:
    ordered: list[str] = []
    for pattern in patterns:
        ordered.extend(n for n in names if re.fullmatch(pattern, n, re.IGNORECASE) and n not in ordered)
    return ordered
