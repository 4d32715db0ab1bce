"""Stack building blocks without the API: ports, PID identity, stop, state files, missing prometheus."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from foundation.cli import stack as stack_cli
from foundation.ops.procs import free_port, port_is_free
from foundation.ops.stack import config, manager, procs, state


def test_free_port_prefers_the_given_port_unless_taken() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        assert not port_is_free(busy)
        chosen = free_port(busy)
        assert chosen != busy and port_is_free(chosen)
    free = free_port()
    assert free_port(free) == free
    assert free_port(free, taken={free}) != free


def test_start_identity_and_stop(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "import time; time.sleep(60)"]
    proc = procs.start(cmd, tmp_path / "sleep.log")
    cmdline = procs.wait_cmdline(proc.pid)
    assert cmdline == cmd
    assert procs.same_process(proc.pid, cmd)
    assert not procs.same_process(proc.pid, [*cmd, "other"])
    assert procs.stop(proc.pid, timeout=5)
    assert proc.wait(timeout=5) is not None
    assert not procs.same_process(proc.pid, cmd)


def test_state_roundtrip_and_down_leaves_foreign_pid_alone(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "import time; time.sleep(60)"]
    proc = procs.start(cmd, tmp_path / "x.log")
    assert procs.wait_cmdline(proc.pid) == cmd
    try:
        # Recorded with another command line: `down` must not kill it (PID reuse guard).
        foreign = state.Component("api", proc.pid, 1, "http://x", "http://x/h", "x.log", ["not", "this"])
        current = state.StackState(str(tmp_path), "now", {"api": foreign})
        state.save(current)
        assert (tmp_path / "api.pid").read_text().strip() == str(proc.pid)
        loaded = state.load(tmp_path)
        assert loaded is not None and loaded.components["api"].cmdline == ["not", "this"]
        manager.down(tmp_path, echo=lambda _m: None)
        assert procs.same_process(proc.pid, cmd)
        assert not (tmp_path / "api.pid").exists() and not (tmp_path / "state.json").exists()
    finally:
        procs.stop(proc.pid, timeout=5)
        proc.wait(timeout=5)


def test_up_without_prometheus_prints_install_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "find_prometheus", lambda: None)
    app = typer.Typer()
    stack_cli.register(app)
    result = CliRunner().invoke(app, ["stack", "up", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "error: prometheus not found; install it with: sudo apt-get install -y prometheus" in result.output


def test_generated_config_scrapes_both_targets(tmp_path: Path) -> None:
    cfg = config.prometheus_config("127.0.0.1:1", "127.0.0.1:2", Path("/r.yml"))
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in cfg["scrape_configs"]}
    assert jobs == {"foundation-api": ["127.0.0.1:1"], "foundation-collector": ["127.0.0.1:2"]}
    assert cfg["global"]["scrape_interval"] == "2s" and cfg["rule_files"] == ["/r.yml"]
