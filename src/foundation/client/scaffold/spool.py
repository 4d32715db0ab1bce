"""Registrations the API did not confirm, kept under ``<root>/.foundation/spool/`` (git-ignored) until
``foundation scaffold sync`` replays them, in the order they were spooled.

An entry is the complete request — method, path, ``X-Tenant-Id``, ``Idempotency-Key`` and body — so the
replay is the same request and the API answers it as a replay when the first attempt did arrive. The bearer
token is never written (``sync`` uses ``FOUNDATION_TOKEN``). An entry the API refuses for good (400, 409, 422)
moves to ``spool/rejected/`` with the answer, so it stops blocking the entries after it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SPOOL_DIR = Path(".foundation") / "spool"
REJECTED = "rejected"
FORMAT = 1


@dataclass(frozen=True)
class Entry:
    path: Path
    request: dict[str, Any]


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def add(root: Path, request: dict[str, Any]) -> Path:
    """Spool one request; entries sort by the time they were spooled."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{stamp}-{request['featureSlug']}-{request['headers']['Idempotency-Key'][-12:]}.json"
    path = root / SPOOL_DIR / name
    _write_atomically(path, {"format": FORMAT, "spooledAt": stamp, **request})
    return path


def entries(root: Path) -> list[Entry]:
    directory = root / SPOOL_DIR
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*.json")):
        try:
            found.append(Entry(path, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue  # a torn write cannot happen (atomic rename); anything else is not ours
    return found


def confirmed(entry: Entry) -> None:
    entry.path.unlink(missing_ok=True)


def rejected(entry: Entry, answer: dict[str, Any]) -> Path:
    target = entry.path.parent / REJECTED / entry.path.name
    _write_atomically(target, {**entry.request, "answer": answer})
    entry.path.unlink(missing_ok=True)
    return target
