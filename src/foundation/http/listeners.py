"""Serving with uvicorn, several workers each listening on their own socket (``SO_REUSEPORT``, Linux).

uvicorn's own supervisor binds one socket and every worker accepts from it. A worker that wakes up accepts
every pending connection at once (asyncio accepts up to the backlog per wake-up), so the long-lived
connections of a client pool can end up mostly on one worker: with 50 keep-alive connections, two workers
were measured serving 5,961 and 867 requests, and the busy worker's queue then set the p99
(docs/benchmarks.md). Here each worker binds its own socket with ``SO_REUSEPORT`` once its application
start-up is done, and Linux hashes every new connection to one of the listening sockets: the split follows
the connection hash, not who wakes first, and a worker still starting takes no connection at all.

Only Linux balances ``SO_REUSEPORT`` sockets (BSD and macOS let the last one take everything), so elsewhere or
when asked to (``reuse_port=False``) the workers share one socket, under the same supervisor; one worker is
plain ``uvicorn.run``.
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

REUSE_PORT_BALANCES = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")
log = logging.getLogger("uvicorn.error")


class ReusePortListener(socket.socket):
    """The listening socket handed to uvicorn's supervisor, re-created in every worker process.

    Pickling it (which is how the supervisor passes sockets to the workers it spawns) gives each worker a
    new, unbound socket; it binds when uvicorn starts listening on it, after the application's start-up.
    """

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
        )
        self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self.address = (host, port)
        self.bound = False

    def __reduce__(self) -> tuple[type[ReusePortListener], tuple[str, int]]:
        return type(self), self.address

    def listen(self, backlog: int = socket.SOMAXCONN) -> None:
        if not self.bound:
            try:
                self.bind(self.address)
            except OSError as exc:  # exiting with this code stops the supervisor instead of restarting us
                log.error("cannot listen on %s:%d: %s", *self.address, exc.strerror)
                sys.exit(STARTUP_FAILURE)
            self.bound = True
        super().listen(backlog)


class _Supervisor(Multiprocess):
    """uvicorn's supervisor, letting go of the listening sockets as soon as it starts stopping the workers.

    With one shared socket (``--no-reuse-port``) the supervisor holds a copy of it, which uvicorn closes only
    once every worker has drained (up to the graceful timeout): until then the port kept listening, new
    connections queued where no worker accepted them any more (reset when it finally closed), and a server
    restarted on the port could not bind it ("Address already in use"). Each worker closes its own copy when
    its shutdown starts. (With a socket per worker the supervisor's copies are never bound; closing them is a
    no-op.)
    """

    def terminate_all(self) -> None:
        for listener in self.sockets:
            listener.close()
        super().terminate_all()


def run(app: str, *, host: str, port: int, workers: int = 1, reuse_port: bool = True, **options: Any) -> None:
    """``uvicorn.run(app, host=…, port=…, workers=…, **options)``, a socket per worker where it balances.

    Every listening socket has ``SO_REUSEADDR`` (uvicorn's shared socket and asyncio's single-worker one set
    it too), so a restarted server binds while the previous one's connections drain or sit in TIME_WAIT.
    """
    if workers <= 1 or options.get("reload"):
        uvicorn.run(app, host=host, port=port, workers=workers, **options)
        return
    config = uvicorn.Config(app, host=host, port=port, workers=workers, **options)
    balanced = reuse_port and REUSE_PORT_BALANCES
    supervisor = _Supervisor(
        config, sockets=[ReusePortListener(host, port) if balanced else config.bind_socket()]
    )
    supervisor.run()
    if any(worker.exitcode == STARTUP_FAILURE for worker in supervisor.processes):
        sys.exit(STARTUP_FAILURE)


def listening_sockets(port: int) -> int:
    """How many sockets listen on TCP ``port`` on this machine (Linux ``/proc/net/tcp*``; 0 elsewhere).

    With a socket per worker this counts the workers that finished starting, which a readiness probe
    answered by any one worker cannot tell.
    """
    return len(listening_inodes(port))


def listening_inodes(port: int) -> set[int]:
    """Inode numbers of the sockets listening on TCP ``port`` (match them in ``/proc/<pid>/fd``)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as rows:
                next(rows, None)  # header
                for row in rows:
                    fields = row.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                        inodes.add(int(fields[9]))
        except OSError:
            continue
    return inodes
