"""What every check of the security gate shares: its verdict, its context, tool lookup and YAML policy files.

A verdict is ``pass``, ``fail`` or ``skipped`` (with the reason). ``skipped`` is never a pass: the gate's exit
code is non-zero for any failure, and for any skipped check the caller did not explicitly accept.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

PASS = "pass"  # noqa: S105  # a verdict, not a password
FAIL = "fail"
SKIPPED = "skipped"


@dataclass
class Verdict:
    check: str
    title: str
    status: str
    summary: str
    files: list[Path] = field(default_factory=list)
    reason: str | None = None  # why the check was skipped

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def as_json(self, base: Path) -> dict[str, Any]:
        return {
            "check": self.check,
            "title": self.title,
            "status": self.status,
            "summary": self.summary,
            "reason": self.reason,
            "files": [_relative(path, base) for path in self.files],
        }


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


@dataclass
class Context:
    """Where a check reads the project from and writes its evidence to."""

    root: Path  # the project (repository) root
    evidence: Path  # this check's evidence folder
    options: Any  # the gate's SecurityOptions
    today: date = field(default_factory=date.today)

    def path(self, relative: str | Path) -> Path:
        candidate = Path(relative)
        return candidate if candidate.is_absolute() else self.root / candidate


def tool(name: str) -> str:
    """A console script installed next to this interpreter (the project's venv), so versions are the locked
    ones."""
    candidate = Path(sys.executable).parent / name
    if not candidate.exists():
        raise FileNotFoundError(f"{name} not found next to {sys.executable}; install the [ops] extra")
    return str(candidate)


def run(
    cmd: list[str], log: Path, *, cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a scanner, keeping its whole output in ``log`` (evidence) and returning it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    log.write_text(
        f"$ {' '.join(cmd)}\n# exit {proc.returncode}\n\n"
        f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}",
        encoding="utf-8",
    )
    return proc


def write_json(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


class PolicyError(ValueError):
    """A policy file (justifications, allowlist, licence policy) is missing a field or malformed."""


def load_entries(path: Path, key: str, required: tuple[str, ...]) -> list[dict[str, Any]]:
    """The list under ``key`` in a YAML policy file; every entry must carry the ``required`` fields.

    A missing file is an empty policy (nothing justified)."""
    if not path.is_file():
        return []
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from exc
    entries = document.get(key) or [] if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise PolicyError(f"{path}: `{key}` must be a list")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise PolicyError(f"{path}: {key}[{index}] must be a mapping")
        missing = [name for name in required if not str(entry.get(name) or "").strip()]
        if missing:
            raise PolicyError(f"{path}: {key}[{index}] lacks {', '.join(missing)}")
    return entries


def parse_date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise PolicyError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from exc
