"""`foundation rehearse`: starts the fleet in the foreground, serves through the balancer, and on SIGTERM
stops every process it started (instances, HAProxy, Redis, PostgreSQL)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from foundation.ops.devtools._proc import free_port, pid_alive
from tests.api.helpers import ALFA
from tests.observability.servers import poll

REHEARSE = [sys.executable, "-m", "foundation.cli.main", "rehearse"]


def test_foundation_rehearse_runs_until_sigterm_and_leaves_nothing_running(tmp_path: Path) -> None:
    port = free_port()
    directory = tmp_path / "fleet"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOUNDATION_")}
    output = tmp_path / "out.txt"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [*REHEARSE, "--instances", "1", "--port", str(port), "--dir", str(directory)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        poll(lambda: process.poll() is not None or "redis:" in output.read_text(), 240, "the fleet")
        assert process.poll() is None, output.read_text()
        theme = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/tenants/{ALFA}/themes/current", headers={"X-Tenant-Id": ALFA}
        )
        assert theme.status_code == 200
        text = output.read_text()
        pids = [int(pid) for pid in re.findall(r"\(pid (\d+)\)", text)]
        redis_pid = json.loads((directory / "redis" / "redis.json").read_text())["pid"]
        started = [*pids, redis_pid, _postmaster(directory)]
        assert len(pids) == 2 and all(pid_alive(pid) for pid in started)  # HAProxy and the one instance

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0, output.read_text()
        assert "stopping" in output.read_text()
        poll(lambda: not any(pid_alive(pid) for pid in started), 30, "every process of the fleet to stop")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
    finally:
        if process.poll() is None:  # a failed assertion above: stop it the way it is meant to be stopped
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


def test_a_port_in_use_is_one_error_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "foundation.cli.main",
                "rehearse",
                "--port",
                str(port),
                "--dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use (choose another with --port)"
    ]


def _postmaster(directory: Path) -> int:
    cluster = json.loads((directory / "pg" / "cluster.json").read_text())
    return int((Path(cluster["directory"]) / "data" / "postmaster.pid").read_text().splitlines()[0])
