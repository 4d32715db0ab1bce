"""Small process helpers shared by the development servers (PostgreSQL, Redis)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def free_port(preferred: int | None = None, host: str = "127.0.0.1") -> int:
    candidates = [preferred] if preferred else []
    for port in [*candidates, 0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # Servers set SO_REUSEADDR, so a port whose old connections are in TIME_WAIT is still usable.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port or 0))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise RuntimeError("no free TCP port")


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s")


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
