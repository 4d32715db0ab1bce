"""Background processes owned by the stack: start detached, record, verify identity, stop by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from foundation.ops.procs import WaitTimeout, wait_until


def read_cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    if not raw:
        return None  # zombie or kernel thread
    return [part.decode(errors="replace") for part in raw.rstrip(b"\0").split(b"\0")]


def wait_cmdline(pid: int, timeout: float = 3.0) -> list[str] | None:
    """The command line of a just-started process (briefly empty while it execs)."""
    try:
        return wait_until(lambda: read_cmdline(pid), timeout, 0.02, what=f"/proc/{pid}/cmdline")
    except WaitTimeout:
        return None


def same_process(pid: int, cmdline: Sequence[str]) -> bool:
    """True when ``pid`` is alive and still runs ``cmdline`` (guards against PID reuse)."""
    if pid <= 0:
        return False
    current = read_cmdline(pid)
    if current is None:
        return False
    return list(current) == list(cmdline)


def start(
    cmd: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` detached in its own session (so its PID is the process-group id of its children)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=str(cwd) if cwd else None,
            start_new_session=True,
        )


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _gone(pid: int) -> bool:
    _reap(pid)
    return not _group_alive(pid) and read_cmdline(pid) is None


def stop(pid: int, timeout: float = 10.0) -> bool:
    """SIGTERM the process group led by ``pid``, SIGKILL after ``timeout``; True when nothing is left."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        with contextlib.suppress(WaitTimeout):
            return wait_until(lambda: _gone(pid), wait, what=f"process group {pid} to exit")
    _reap(pid)
    return not _group_alive(pid)
