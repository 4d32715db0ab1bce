"""A server stopped under load comes back on its port at once, in every listening mode: one worker, a socket
per worker (``SO_REUSEPORT``) and one shared socket (``--no-reuse-port``).

The stop happens with many connections open (wrk, 200 keep-alive connections) and a request still in flight
(an upload that has sent half its body), so the old process is still draining and the port carries its
established and TIME_WAIT connections when the new process binds it. Real processes on 127.0.0.1, stopped by
process group; every wait polls with a deadline.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from foundation.http import listeners
from foundation.ops.procs import free_port, wait_until
from tests.cli.test_serve_workers import listener_owners
from tests.observability.servers import ALFA, running_server, seeded_database, server_env

MODES = {
    "one worker": (1, ()),
    "a socket per worker": (2, ()),
    "one shared socket": (2, ("--no-reuse-port",)),
}
THEME = f"/api/v1/tenants/{ALFA}/themes/current"


def process_tree(pid: int) -> set[int]:
    """``pid`` and its descendants (uvicorn's workers and multiprocessing helpers)."""
    tree, pending = {pid}, [pid]
    while pending:
        parent = pending.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            if child not in tree:
                tree.add(child)
                pending.append(child)
    return tree


def connections_on(port: int) -> int:
    """Sockets on local ``port`` that are not listening (established, closing, TIME_WAIT)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                if fields[3] != "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


@contextmanager
def load(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """200 keep-alive connections requesting the current theme until stopped (bounded to 120 s anyway)."""
    command = [
        "wrk",
        "-t2",
        "-c200",
        "-d120s",
        "-H",
        f"X-Tenant-Id: {ALFA}",
        f"http://127.0.0.1:{port}{THEME}",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


def half_sent_upload(port: int) -> socket.socket:
    """A scaffold POST whose headers and half its body are sent and read by the server, which must now wait
    for the rest. Read, not only sent: a server stopped before it has read the headers has no request in
    flight and rightly exits at once (seen on a loaded machine)."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.sendall(
        (
            f"POST /api/v1/tenants/{ALFA}/features/scaffold HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"X-Tenant-Id: {ALFA}\r\nIdempotency-Key: in-flight\r\nContent-Type: application/json\r\n"
            "Content-Length: 400\r\n\r\n{"
        ).encode()
    )
    client_port = connection.getsockname()[1]
    wait_until(lambda: server_has_read(port, client_port), 30, what="the server to read the upload's headers")
    return connection


def server_has_read(port: int, client_port: int) -> bool:
    """The server's end of the connection from ``client_port`` is accepted and its receive queue is empty:
    the server process has read every byte sent (/proc/net/tcp, rx_queue of local ``port``)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                local, remote = fields[1].rsplit(":", 1)[1], fields[2].rsplit(":", 1)[1]
                if int(local, 16) == port and int(remote, 16) == client_port and fields[3] == "01":
                    return int(fields[4].split(":")[1], 16) == 0
    return False


@pytest.mark.integration
@pytest.mark.skipif(not listeners.REUSE_PORT_BALANCES, reason="reads Linux /proc/net/tcp")
@pytest.mark.parametrize("mode", list(MODES))
def test_a_server_stopped_under_load_comes_back_on_its_port_at_once(mode: str, tmp_path: Path) -> None:
    workers, extra = MODES[mode]
    env = server_env(seeded_database(tmp_path / "db"), tmp_path / "var", FOUNDATION_TRACING_ENABLED="false")
    port = free_port()
    server = {"workers": workers, "port": port, "extra_args": extra, "ready_seconds": 120}  # a shared machine
    with running_server(env, tmp_path / "old", **server) as old:  # type: ignore[arg-type]
        old_tree = process_tree(old.process.pid)
        with load(port):
            wait_until(lambda: connections_on(port) >= 100, 60, what="the load's connections")
            in_flight = half_sent_upload(port)
            os.killpg(old.process.pid, signal.SIGTERM)

            # The old server lets go of the port at once (no socket of its processes listens any more), while
            # it still drains the request in flight and its connections occupy the port.
            wait_until(
                lambda: not (listener_owners(port) & old_tree), 10, what="the old server to stop listening"
            )
            assert old.process.poll() is None, "the old server should still be draining the upload"
            assert connections_on(port) > 0

            with running_server(env, tmp_path / "new", **server) as new:  # type: ignore[arg-type]
                owners = listener_owners(port)
                assert owners and owners <= process_tree(new.process.pid), (owners, old_tree)
                response = httpx.get(f"{new.url}{THEME}", headers={"X-Tenant-Id": ALFA}, timeout=10)
                assert response.status_code == 200
            in_flight.close()
        old.process.wait(timeout=30)
    assert "Address already in use" not in old.logs() + new.logs()
