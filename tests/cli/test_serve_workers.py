"""`foundation serve --workers N`: a listening socket per worker (SO_REUSEPORT), connections spread by the
kernel, and the shared-socket fallback. Real server processes on 127.0.0.1, stopped by process group."""

from __future__ import annotations

import os
import pickle
import signal
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from uvicorn.config import STARTUP_FAILURE

from foundation.http import listeners
from tests.observability.servers import free_port, poll, running_server, seeded_database, server_env
from tests.observability.test_workers import HEADERS, THEME, theme_count_per_pid

linux_only = pytest.mark.skipif(
    not listeners.REUSE_PORT_BALANCES, reason="SO_REUSEPORT balances on Linux only"
)


def listener_owners(port: int) -> set[int]:
    """PIDs holding a socket that listens on ``port`` (its inode found among their open descriptors)."""
    names = {f"socket:[{inode}]" for inode in listeners.listening_inodes(port)}
    owners = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in names for fd in descriptors):
                owners.add(int(pid))
        except OSError:
            continue  # gone, or not ours
    return owners


def test_a_listener_reaches_each_worker_as_a_fresh_unbound_socket_that_binds_when_it_listens() -> None:
    port = free_port()
    original = listeners.ReusePortListener("127.0.0.1", port)
    with original, pickle.loads(pickle.dumps(original)) as copy:  # noqa: S301  # own object
        assert isinstance(copy, listeners.ReusePortListener)
        assert copy.fileno() != original.fileno()
        assert copy.getsockname()[1] == 0  # not bound yet: the supervisor's copy never listens
        copy.listen(16)
        assert copy.getsockname() == ("127.0.0.1", port)
        assert listeners.listening_sockets(port) == 1
        with listeners.ReusePortListener("127.0.0.1", port) as second:
            second.listen(16)  # a second worker joins the same port
            assert listeners.listening_sockets(port) == 2


def test_a_worker_that_cannot_bind_exits_with_the_startup_failure_code() -> None:
    with socket.socket() as taken:  # bound without SO_REUSEPORT: nobody may join it
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with listeners.ReusePortListener("127.0.0.1", port) as listener, pytest.raises(SystemExit) as exit_:
            listener.listen(16)
    assert exit_.value.code == STARTUP_FAILURE


@linux_only
@pytest.mark.integration
def test_each_worker_listens_on_its_own_socket_and_keep_alive_connections_reach_both(tmp_path: Path) -> None:
    multiproc = tmp_path / "multiproc"
    env = server_env(
        seeded_database(tmp_path / "db"),
        tmp_path / "var",
        FOUNDATION_TRACING_ENABLED="false",
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )
    with running_server(env, tmp_path / "logs", workers=2) as server:
        owners = listener_owners(server.port)
        assert len(owners) == 2 and server.process.pid not in owners  # the workers, not the supervisor

        # 40 long-lived connections opened at once, as a client pool does: with one shared socket the
        # first worker to wake could accept them all; hashed over two sockets, 8 or fewer on either worker
        # has a probability of about 2e-4.
        clients = [httpx.Client(base_url=server.url) for _ in range(40)]
        try:
            with ThreadPoolExecutor(max_workers=40) as pool:
                statuses = list(
                    pool.map(lambda client: client.get(THEME, headers=HEADERS).status_code, clients)
                )
            for _ in range(4):
                statuses += [client.get(THEME, headers=HEADERS).status_code for client in clients]
        finally:
            for client in clients:
                client.close()
        assert statuses == [200] * 200
        per_worker = theme_count_per_pid(multiproc)
        assert set(map(int, per_worker)) == owners
        assert all(count % 5 == 0 and count >= 5 * 9 for count in per_worker.values()), per_worker


@linux_only
@pytest.mark.integration
def test_a_killed_worker_is_replaced_by_one_listening_on_a_new_socket(tmp_path: Path) -> None:
    env = server_env(seeded_database(tmp_path / "db"), tmp_path / "var", FOUNDATION_TRACING_ENABLED="false")
    with running_server(env, tmp_path / "logs", workers=2) as server:
        first = listener_owners(server.port)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        replaced = poll(
            lambda: (owners := listener_owners(server.port)) - first and len(owners) == 2 and owners,
            60,
            "a replacement worker listening",
        )
        assert victim not in replaced and len(replaced & first) == 1
        with httpx.Client(base_url=server.url, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            assert {client.get(THEME, headers=HEADERS).status_code for _ in range(20)} == {200}


@linux_only
@pytest.mark.integration
def test_no_reuse_port_shares_one_socket_bound_by_the_supervisor(tmp_path: Path) -> None:
    env = server_env(seeded_database(tmp_path / "db"), tmp_path / "var", FOUNDATION_TRACING_ENABLED="false")
    with running_server(env, tmp_path / "logs", workers=2, extra_args=["--no-reuse-port"]) as server:
        assert listeners.listening_sockets(server.port) == 1
        assert httpx.get(f"{server.url}{THEME}", headers=HEADERS).status_code == 200
        assert server.process.pid in listener_owners(server.port)  # inherited by the workers as well
