"""Free ports and polling with a deadline: the one copy shared by the operator tools, bench/ and the tests.

Standard library only, so anything (a dev server, a benchmark, a test) can import it without pulling in a
framework. Nothing here sleeps to synchronise: :func:`wait_until` polls a predicate until it holds or the
deadline passes, and says what it was waiting for when it gives up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Collection
from typing import TypeVar

T = TypeVar("T")

LOOPBACK = "127.0.0.1"


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Nobody listens on ``port`` (SO_REUSEADDR, as servers set it: connections in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(preferred: int | None = None, *, host: str = LOOPBACK, taken: Collection[int] = ()) -> int:
    """``preferred`` when it is free and not in ``taken``, otherwise a port the kernel hands out.

    The port is released before this returns, so another process may take it first: callers that start a
    server on it report the bind error rather than retry blindly.
    """
    if preferred and preferred not in taken and port_is_free(preferred, host):
        return preferred
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        if port not in taken:
            return port
    raise RuntimeError("no free TCP port found")


class WaitTimeout(TimeoutError):
    """:func:`wait_until` gave up; ``last`` is the predicate's last (falsy) answer."""

    def __init__(self, what: str, timeout: float, last: object) -> None:
        super().__init__(f"gave up after {timeout:g}s waiting for {what}")
        self.what = what
        self.timeout = timeout
        self.last = last


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.1,
    *,
    what: str,
    ignore: tuple[type[BaseException], ...] = (),
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that; raise :class:`WaitTimeout`
    after ``timeout`` seconds.

    The predicate runs at least once, and once more at the deadline (the last sleep is cut short to end
    there). Exceptions listed in ``ignore`` count as a falsy answer; any other exception propagates, which
    is how a predicate stops the wait early (for example when the process it waits for has exited).
    ``clock`` and ``sleep`` are injectable so the timing logic is tested without waiting.
    """
    deadline = clock() + timeout
    while True:
        try:
            value = predicate()
        except ignore:
            value = None  # type: ignore[assignment]
        if value:
            return value
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeout(what, timeout, value)
        sleep(min(interval, remaining))


def stop_process_group(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM to the process's group (a server started with ``start_new_session=True`` and the workers it
    forked), then SIGKILL to the group after ``grace`` seconds or once the leader is gone (workers it left
    behind)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
