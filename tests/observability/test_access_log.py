"""The access line's short path writes exactly the line structlog's chain renders, and only while the PII
guard would pass every field unchanged (observability/access_log.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from foundation.observability import access_log, pii
from foundation.observability.logging import configure_logging

FIELDS: dict[str, Any] = {
    "method": "GET",
    "route": "/api/v1/tenants/{tenantId}/themes/current",
    "status": 200,
    "duration_ms": 0.42,
    "tenant": "tenant-alfa",
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span_id": None,
}


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    configure_logging("INFO")


def written_line(capsys: pytest.CaptureFixture[str], **fields: Any) -> dict[str, Any]:
    capsys.readouterr()
    access_log.write(**{**FIELDS, **fields})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    return json.loads(lines[0])  # type: ignore[no-any-return]


def without_timestamp(line: dict[str, Any]) -> list[tuple[str, Any]]:
    assert line["timestamp"].endswith("Z") and "T" in line["timestamp"]
    return [(key, value) for key, value in line.items() if key != "timestamp"]


@pytest.mark.parametrize("tenant", ["tenant-alfa", "none"])
def test_the_short_line_is_the_chains_line(capsys: pytest.CaptureFixture[str], tenant: str) -> None:
    configure_logging("INFO", access_short_path=True)
    assert access_log._short_path
    short = written_line(capsys, tenant=tenant, span_id="00f067aa0ba902b7")
    configure_logging("INFO", access_short_path=False)
    assert not access_log._short_path
    chain = written_line(capsys, tenant=tenant, span_id="00f067aa0ba902b7")
    assert without_timestamp(short) == without_timestamp(chain)  # same keys, same order, same values
    assert list(short) == list(chain)


def test_a_field_the_guard_would_scrub_sends_the_line_through_the_chain(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If `tenant` stopped being a safe log field, its value would be scrubbed: the short path must not
    write it as is."""
    monkeypatch.setattr(pii, "SAFE_LOG_FIELDS", pii.SAFE_LOG_FIELDS - {"tenant"})
    configure_logging("INFO", access_short_path=True)
    assert not access_log._short_path
    line = written_line(capsys, tenant="joao@example.com")
    assert "joao@example.com" not in json.dumps(line)


def test_console_logs_and_warning_level_use_the_chain(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_lines=False)
    assert not access_log._short_path
    configure_logging("WARNING")
    capsys.readouterr()
    access_log.write(**FIELDS)  # callers check the level first; the chain drops it if they did not
    assert capsys.readouterr().out == ""
