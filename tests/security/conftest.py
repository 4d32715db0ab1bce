"""Helpers for the security-gate tests: run one check of the gate on a fixture tree, the way the CLI does."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from foundation.ops.security.base import Context, Verdict
from foundation.ops.security.gate import CHECKS, SecurityOptions

ROOT = Path(__file__).resolve().parents[2]


def run_check(name: str, root: Path, evidence: Path, **options: Any) -> Verdict:
    today = options.pop("today", None) or date.today()
    opts = replace(SecurityOptions(root=root), **options)
    evidence.mkdir(parents=True, exist_ok=True)
    return CHECKS[name][1](Context(root=root, evidence=evidence, options=opts, today=today))
