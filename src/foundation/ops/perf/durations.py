"""Duration strings as used by k6 and Go: ``30s``, ``1m30s``, ``2m``, ``500ms``, ``1h``, or plain seconds."""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_PLAIN = re.compile(r"\d+(?:\.\d+)?")


def parse_duration(text: str) -> float:
    """Return the duration in seconds; raise ``ValueError`` with a readable message when malformed."""
    raw = text.strip().lower()
    if not raw:
        raise ValueError("empty duration")
    if _PLAIN.fullmatch(raw):
        return float(raw)
    position = 0
    total = 0.0
    for match in _PART.finditer(raw):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(raw) or position == 0:
        raise ValueError(f"invalid duration {text!r} (use e.g. 30s, 1m30s, 2m, 500ms or plain seconds)")
    return total


def parse_positive_duration(text: str, what: str = "duration") -> float:
    seconds = parse_duration(text)
    if seconds <= 0 or not math.isfinite(seconds):
        raise ValueError(f"{what} must be greater than zero (got {text!r})")
    return seconds


def format_duration(seconds: float) -> str:
    """Compact human form: ``500ms``, ``30s``, ``1m30s``, ``1h2m``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = round(seconds)
    if abs(seconds - whole) > 1e-9 and seconds < 60:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs or not parts:
        parts.append(f"{secs}s")
    return "".join(parts)
