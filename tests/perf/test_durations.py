from __future__ import annotations

import pytest

from foundation.ops.perf.durations import format_duration, parse_duration, parse_positive_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("1m30s", 90.0),
        ("2m", 120.0),
        ("500ms", 0.5),
        ("1h", 3600.0),
        ("1h2m3s", 3723.0),
        ("1m500ms", 60.5),
        ("45", 45.0),
        ("1.5", 1.5),
        ("1.5s", 1.5),
        (" 10S ", 10.0),
        ("0s", 0.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "10x", "s", "1m30", "-5s", "1.2.3s", "m30s", "3 0s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("text", ["0", "0s", "0ms"])
def test_positive_duration_rejects_zero(text: str) -> None:
    with pytest.raises(ValueError, match="greater than zero"):
        parse_positive_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.5, "500ms"), (30, "30s"), (90, "1m30s"), (3723, "1h2m3s"), (1.5, "1.5s"), (120, "2m")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)
