"""WCAG 2.2 AA contrast check (4.5:1) over foreground/background token pairs.

Pairing rules (from the contract): ``P.on-N`` ↔ ``P.N``; ``P.on`` ↔ ``P.bg``; camelCase ``onX`` ↔ ``x``
(``colorOnPrimary`` ↔ ``colorPrimary``). Only opaque ``#RGB``/``#RRGGBB`` values are checked; values with
alpha are skipped and listed, as are pairs whose background token does not exist or is not a colour.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

AA_NORMAL_TEXT = 4.5
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_HEX_ALPHA = re.compile(r"^#(?:[0-9a-fA-F]{4}|[0-9a-fA-F]{8})$")
_CAMEL_ON = re.compile(r"^(?P<prefix>[a-z][A-Za-z0-9]*?)?On(?P<rest>[A-Z][A-Za-z0-9]*)$")


def background_for(name: str) -> str | None:
    """The background token a foreground token pairs with, or None when it is not a foreground."""
    prefix, _, last = name.rpartition(".")
    joined = f"{prefix}." if prefix else ""
    if last.startswith("on-") and len(last) > 3:
        return f"{joined}{last[3:]}"
    if last == "on" and prefix:
        return f"{joined}bg"
    if last.startswith("on") and len(last) > 2 and last[2].isupper():
        return f"{joined}{last[2].lower()}{last[3:]}"
    match = _CAMEL_ON.match(last)
    if match and match.group("prefix"):
        return f"{joined}{match.group('prefix')}{match.group('rest')}"
    return None


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(hex_colour: str) -> float:
    digits = hex_colour[1:]
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    r, g, b = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(foreground: str, background: str) -> float:
    lighter, darker = sorted((relative_luminance(foreground), relative_luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _lookup(categories: Mapping[str, Mapping[str, str]], category: str, name: str) -> tuple[str, str] | None:
    if name in categories.get(category, {}):
        return category, categories[category][name]
    for other, tokens in categories.items():
        if name in tokens:
            return other, tokens[name]
    return None


def check_theme(categories: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    checked: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    per_category: dict[str, dict[str, Any]] = {}
    for category, tokens in categories.items():
        category_ratios: list[float] = []
        category_failures = 0
        for name, value in sorted(tokens.items()):
            background_name = background_for(name)
            if background_name is None:
                continue
            found = _lookup(categories, category, background_name)
            fg_ref = f"{category}.{name}"
            if found is None:
                skipped.append({"foreground": fg_ref, "reason": f"no background token {background_name!r}"})
                continue
            bg_category, bg_value = found
            bg_ref = f"{bg_category}.{background_name}"
            if _HEX_ALPHA.match(value) or _HEX_ALPHA.match(bg_value):
                skipped.append({"foreground": fg_ref, "background": bg_ref, "reason": "colour with alpha"})
                continue
            if not (_HEX.match(value) and _HEX.match(bg_value)):
                skipped.append(
                    {"foreground": fg_ref, "background": bg_ref, "reason": "not a #RGB/#RRGGBB colour"}
                )
                continue
            ratio = round(contrast_ratio(value, bg_value), 2)
            passed = ratio >= AA_NORMAL_TEXT
            checked.append({"foreground": fg_ref, "background": bg_ref, "ratio": ratio, "pass": passed})
            category_ratios.append(ratio)
            category_failures += 0 if passed else 1
        per_category[category] = {
            "status": "fail" if category_failures else "pass",
            "contrastRatio": min(category_ratios) if category_ratios else None,
            "checkedPairs": len(category_ratios),
        }
    failures = [pair for pair in checked if not pair["pass"]]
    return {
        "status": "fail" if failures else "pass",
        "contrastRatio": min((pair["ratio"] for pair in checked), default=None),
        "threshold": AA_NORMAL_TEXT,
        "categories": per_category,
        "checkedPairs": checked,
        "failures": failures,
        "skipped": skipped,
    }
