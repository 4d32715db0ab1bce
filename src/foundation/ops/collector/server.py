"""Serving the collector with uvicorn: bind first (clear error when the port is taken), then serve.

Binding the socket ourselves closes the check-then-bind race and lets callers use port 0.
"""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from foundation.ops.collector.app import create_collector_app
from foundation.ops.collector.storage import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_FILES
from foundation.ops.procs import WaitTimeout, wait_until

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4318
DEFAULT_DATA_DIR = Path("var/collector")


class PortInUseError(OSError):
    def __init__(self, host: str, port: int) -> None:
        super().__init__(errno.EADDRINUSE, f"port {port} on {host} is already in use")
        self.host = host
        self.port = port


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind and listen; raises :class:`PortInUseError` when another process holds the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # SO_REUSEADDR only skips TIME_WAIT leftovers; it never lets two listeners share a port on Linux.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(512)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(host, port) from exc
        raise
    return sock


def _server(data_dir: Path, max_file_bytes: int, max_files: int, log_level: str) -> uvicorn.Server:
    app = create_collector_app(data_dir, max_file_bytes, max_files)
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off")
    return uvicorn.Server(config)


def serve_collector(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    data_dir: Path = DEFAULT_DATA_DIR,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
    *,
    sock: socket.socket | None = None,
    on_listening: Callable[[str], None] | None = None,
    log_level: str = "warning",
) -> None:
    """Serve until interrupted. ``on_listening`` receives the base URL once the socket is listening."""
    sock = sock or bind_socket(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    if on_listening is not None:
        on_listening(f"http://{_url_host(bound_host)}:{bound_port}")
    server = _server(data_dir, max_file_bytes, max_files, log_level)
    server.run(sockets=[sock])


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def wait_healthy(base_url: str, deadline_seconds: float = 15.0) -> None:
    """Poll ``/health`` until it answers 200 or the deadline passes (no blind sleeps)."""
    last_error = "no answer"

    def healthy() -> bool:
        nonlocal last_error
        try:
            status = httpx.get(f"{base_url}/health", timeout=1.0).status_code
        except httpx.HTTPError as exc:
            last_error = str(exc)
            return False
        last_error = f"status {status}"
        return status == 200

    try:
        wait_until(healthy, deadline_seconds, 0.05, what=f"collector at {base_url}")
    except WaitTimeout:
        raise TimeoutError(
            f"collector at {base_url} not healthy after {deadline_seconds}s: {last_error}"
        ) from None


@dataclass
class RunningCollector:
    url: str
    port: int
    data_dir: Path
    server: uvicorn.Server
    thread: threading.Thread


@contextmanager
def collector_in_thread(
    data_dir: Path,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
    host: str = DEFAULT_HOST,
    port: int = 0,
) -> Iterator[RunningCollector]:
    """Run a collector in a background thread (tests, ``observe verify``); stopped and joined on exit."""
    sock = bind_socket(host, port)
    bound_port = sock.getsockname()[1]
    server = _server(data_dir, max_file_bytes, max_files, "warning")
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"collector-{bound_port}", daemon=True
    )
    thread.start()
    url = f"http://{_url_host(host)}:{bound_port}"
    try:
        wait_healthy(url)
        yield RunningCollector(url, bound_port, Path(data_dir).resolve(), server, thread)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
