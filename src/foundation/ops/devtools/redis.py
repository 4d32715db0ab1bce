"""A private Redis for development and tests: ``python -m foundation.ops.devtools.redis up|down|env``.

Listens on 127.0.0.1 on a free port with its files under ``./var/redis`` (or ``--dir``); no persistence
(rate-limit windows are a minute long).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from foundation.ops.devtools._proc import die, free_port, pid_alive, wait_until


def _state(directory: Path) -> dict[str, int] | None:
    path = directory / "redis.json"
    return json.loads(path.read_text()) if path.exists() else None


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def up(directory: Path, port: int | None = None) -> int:
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    state = _state(directory)
    if state and pid_alive(state["pid"]) and _ping(state["port"]):
        return state["port"]
    binary = shutil.which("redis-server")
    if binary is None:
        die("redis-server not found; install it with: sudo apt-get install -y redis-server")
    assert binary is not None  # noqa: S101  # die() exits; narrows the type
    chosen = free_port(port or 56379)
    pid_file = directory / "redis.pid"
    subprocess.run(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(chosen),
            "--daemonize",
            "yes",
            "--pidfile",
            str(pid_file),
            "--dir",
            str(directory),
            "--logfile",
            str(directory / "redis.log"),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ],
        check=True,
        capture_output=True,
    )
    wait_until(lambda: _ping(chosen), 15, "Redis")
    pid = int(pid_file.read_text().strip())
    (directory / "redis.json").write_text(json.dumps({"port": chosen, "pid": pid}))
    return chosen


def down(directory: Path) -> None:
    state = _state(directory.resolve())
    if not state or not pid_alive(state["pid"]):
        return
    os.kill(state["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 10
    while pid_alive(state["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m foundation.ops.devtools.redis")
    parser.add_argument("action", choices=["up", "down", "env"])
    parser.add_argument("--dir", default="var/redis", type=Path)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    if args.action == "up":
        print(f"redis: 127.0.0.1:{up(args.dir, args.port)}")
    elif args.action == "down":
        down(args.dir)
        print("redis: stopped")
    else:
        state = _state(args.dir.resolve())
        if state is None:
            die(f"no Redis under {args.dir}; run `make redis-up` first")
        assert state is not None  # noqa: S101  # die() exits; narrows the type
        print(f"export FOUNDATION_REDIS_URL='redis://127.0.0.1:{state['port']}/0'")


if __name__ == "__main__":
    main()
