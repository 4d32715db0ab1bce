"""What every ingest kind shares: options, samples, the report handed to the runner, input errors, times.

A parser reads its files completely and either returns a :class:`Report` or raises :class:`InputError`
(``error: <file>: <what is wrong>``, exit 2) before anything is sent: nothing is posted from a batch that
holds one bad file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SLUG = re.compile(r"^[a-z0-9-]{1,64}$")
# RFC 3339 with an offset (what the API accepts); fractions of any length.
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
MAX_JSON_BYTES = 256 * 1024 * 1024


class InputError(Exception):
    """A file (or an option) that cannot be ingested; the CLI prints ``error: <where>: <what>``, exit 2."""

    def __init__(self, where: str | Path, what: str) -> None:
        super().__init__(f"{where}: {what}")
        self.where = str(where)
        self.what = what


@dataclass(frozen=True)
class Options:
    tenant: str
    feature: str | None = None
    # Only for reports that carry no time of their own (storybook, the pact verifier's JSON report, audit
    # files without timestamps); refused where the report has one.
    collected_at: datetime | None = None
    # storybook
    critical: tuple[str, ...] = ()
    active_tenants: tuple[str, ...] = ()
    storybook_url: str = "http://127.0.0.1:6006"
    build: str | None = None


@dataclass(frozen=True)
class Sample:
    code: str
    value: float
    collected_at: datetime
    source: str
    feature_slug: str | None = None

    def key(self) -> tuple[str, str, datetime, str]:
        """The API's de-duplication key (code, source, collectedAt, featureSlug)."""
        return (self.code, self.source, self.collected_at, self.feature_slug or "")

    def document(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.code,
            "value": self.value,
            "collectedAt": rfc3339(self.collected_at),
            "source": self.source,
        }
        if self.feature_slug:
            body["featureSlug"] = self.feature_slug
        return body


@dataclass
class Report:
    """What one run of a kind produced: samples to POST, stories to PUT, and what to tell the user."""

    kind: str
    samples: list[Sample]
    stories: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# --- reading -----------------------------------------------------------------------------------------------


def read_bytes(path: Path) -> bytes:
    try:
        if path.is_dir():
            raise InputError(path, "is a directory, not a report file")
        if path.stat().st_size > MAX_JSON_BYTES:
            raise InputError(path, f"is larger than {MAX_JSON_BYTES // (1024 * 1024)} MiB")
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except PermissionError:
        raise InputError(path, "permission denied") from None
    except OSError as exc:
        raise InputError(path, f"cannot be read ({exc.strerror or exc})") from None


def decode_text(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"is not UTF-8 text (byte {exc.start})") from None


def read_json(path: Path) -> Any:
    text = decode_text(path, read_bytes(path))
    if not text.strip():
        raise InputError(path, "is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            path, f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None


def expect(condition: bool, path: Path, what: str) -> None:
    if not condition:
        raise InputError(path, what)


# --- times -------------------------------------------------------------------------------------------------


def ms(moment: datetime) -> datetime:
    """UTC at millisecond precision: what the API stores, so a re-sent sample is the same sample."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def rfc3339(moment: datetime) -> str:
    return ms(moment).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(value: Any, path: Path, what: str) -> datetime:
    """An RFC 3339 date-time with an offset (``Z`` or ``±hh:mm``), as UTC."""
    if not isinstance(value, str) or not RFC3339.fullmatch(value.strip()):
        raise InputError(path, f"{what} is not an RFC 3339 date-time with an offset: {str(value)[:40]!r}")
    text = value.strip().replace("z", "Z").replace("t", "T").replace(" ", "T")
    text = re.sub(r"\.(\d{6})\d+", r".\1", text)  # fromisoformat takes at most microseconds
    try:
        return ms(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except (ValueError, OverflowError):
        raise InputError(path, f"{what} is not a valid date-time: {value[:40]!r}") from None


def from_unix_nanos(value: Any) -> datetime | None:
    """OTLP ``*UnixNano`` fields: integers, or decimal strings in OTLP JSON; 0 means unset."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or value <= 0:
        return None
    try:
        return ms(datetime.fromtimestamp(value / 1e9, UTC))
    except (OverflowError, OSError, ValueError):
        return None


# --- samples -----------------------------------------------------------------------------------------------


def distinct_samples(samples: Iterable[Sample], where: str) -> list[Sample]:
    """Drop exact repeats (the same file given twice); two different values under one de-duplication key
    would make the API keep whichever came first, so that is an input error."""
    seen: dict[tuple[str, str, datetime, str], Sample] = {}
    for sample in samples:
        previous = seen.get(sample.key())
        if previous is None:
            seen[sample.key()] = sample
        elif previous.value != sample.value:
            raise InputError(
                where,
                f"two {sample.code} samples collected at {rfc3339(sample.collected_at)} have different "
                f"values ({previous.value:g} and {sample.value:g}), and the API keeps one sample per (code, "
                "source, collectedAt, featureSlug)",
            )
    return list(seen.values())


def percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 6)
