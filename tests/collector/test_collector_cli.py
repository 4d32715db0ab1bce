"""`foundation collector`: clear one-line error when the port is taken; prints its URL when listening."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from foundation.cli.collector import register
from foundation.ops.collector.server import wait_healthy
from foundation.ops.procs import wait_until

pytestmark = pytest.mark.integration


def cli_app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def main() -> None:
        """Group callback so the command is invoked by name, as in the real CLI."""

    register(root)
    return root


@pytest.fixture
def taken_port() -> Iterator[int]:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        yield holder.getsockname()[1]
    finally:
        holder.close()


def test_port_taken_is_one_clear_line(taken_port: int, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli_app(), ["collector", "--port", str(taken_port), "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        f"error: port {taken_port} on 127.0.0.1 is already in use (another collector?); "
        "choose another with --port"
    ]


def test_subprocess_prints_url_and_serves(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "foundation.cli.main",
        "collector",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "d"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()

        def announced() -> str | None:
            while not lines.empty():
                line = lines.get_nowait()
                if line.startswith("collector: "):
                    return line.removeprefix("collector: ").strip()
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            return None

        url = wait_until(announced, 30, 0.05, what="the collector's `collector: <url>` line")
        assert url.startswith("http://127.0.0.1:"), url
        wait_healthy(url)
        assert httpx.get(f"{url}/stats").json()["dataDir"] == str((tmp_path / "d").resolve())
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
