"""Background processes owned by the stack: start detached, record, verify identity, stop by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Nobody listens on ``port`` (SO_REUSEADDR: closed connections in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def pick_port(preferred: int, taken: set[int], host: str = "127.0.0.1") -> int:
    """``preferred`` when it is free (and not already handed out), otherwise a free ephemeral port."""
    if preferred and preferred not in taken and port_is_free(preferred, host):
        return preferred
    for _ in range(50):
        port = free_port(host)
        if port not in taken:
            return port
    raise RuntimeError("no free TCP port found")


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
    deadline = time.monotonic() + timeout
    cmdline = read_cmdline(pid)
    while cmdline is None and time.monotonic() < deadline:
        time.sleep(0.02)
        cmdline = read_cmdline(pid)
    return cmdline


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


def stop(pid: int, timeout: float = 10.0) -> bool:
    """SIGTERM the process group led by ``pid``, SIGKILL after ``timeout``; True when nothing is left."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(pid)
            if not _group_alive(pid) and read_cmdline(pid) is None:
                return True
            time.sleep(0.1)
    _reap(pid)
    return not _group_alive(pid)
