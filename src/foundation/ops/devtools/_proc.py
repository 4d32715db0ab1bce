"""Small process helpers shared by the development servers (PostgreSQL, Redis); ports and polling live in
:mod:`foundation.ops.procs`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def run(
    command: Sequence[str], *, user: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a command, as ``user`` when we are root (PostgreSQL refuses to run as root)."""
    full = list(command)
    if user and os.geteuid() == 0:
        full = ["runuser", "-u", user, "--", *full]
    result = subprocess.run(full, capture_output=True, text=True)
    if check and result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise RuntimeError(f"{Path(command[0]).name} failed: {message[-1] if message else result.returncode}")
    return result


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def die(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)
