"""`foundation perf` input handling: one `error:` line and exit 2; env overrides; lazy imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from foundation.cli import perf as perf_cli
from foundation.ops.perf.options import build_config
from foundation.ops.perf.smoke import SmokeConfig


def _app() -> typer.Typer:
    root = typer.Typer()
    perf_cli.register(root)
    return root


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--mode", "prod"], {}, "--mode must be local or ci"),
        (["--vus", "0"], {}, "--vus must be between 1 and 10000"),
        (["--duration", "1x"], {}, "invalid duration '1x'"),
        (["--duration", "0s"], {}, "--duration must be greater than zero"),
        (["--think-time", "soon"], {}, "invalid duration 'soon'"),
        (["--base-url", "localhost:8000"], {}, "--base-url must be an http(s) URL"),
        (["--tenant", "a/b"], {}, "--tenant must be a tenant slug or UUID"),
        (["--fail-on", "never"], {}, "--fail-on must be warning or critical"),
        (["--otlp-endpoint", "collector"], {}, "OTLP endpoint must be an http(s) URL"),
        ([], {"FOUNDATION_PERF_VUS": "many"}, "FOUNDATION_PERF_VUS must be a positive integer"),
        ([], {"FOUNDATION_PERF_DURATION": "forever"}, "invalid duration 'forever'"),
        (
            [],
            {"FOUNDATION_PERF_THROUGHPUT_CRITICAL": "fast"},
            "FOUNDATION_PERF_THROUGHPUT_CRITICAL must be a number",
        ),
        ([], {"FOUNDATION_PERF_THROUGHPUT_CRITICAL": "-1"}, "throughput threshold must be >= 0"),
        (
            [],
            {"FOUNDATION_PERF_THROUGHPUT_CRITICAL": "10", "FOUNDATION_PERF_THROUGHPUT_WARNING": "5"},
            "throughput warning threshold (5) must be >= critical (10)",
        ),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(
    args: list[str], env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("FOUNDATION_PERF_VUS", "FOUNDATION_PERF_DURATION", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(_app(), ["perf", "smoke", *args], env=env)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output


def _config(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], **flags: object) -> SmokeConfig:
    for name in (
        "FOUNDATION_PERF_VUS",
        "FOUNDATION_PERF_DURATION",
        "FOUNDATION_PERF_THROUGHPUT_CRITICAL",
        "FOUNDATION_PERF_THROUGHPUT_WARNING",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    values: dict[str, object] = {
        "mode": "local",
        "vus": None,
        "duration": None,
        "think_time": "1s",
        "base_url": None,
        "tenant": "tenant-alfa",
        "otlp_endpoint": None,
        "output_dir": Path("artifacts/perf"),
        "fail_on": None,
        "token": None,
        "throughput_critical": None,
        "throughput_warning": None,
    }
    values.update(flags)
    return build_config(**values)  # type: ignore[arg-type]


def test_mode_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    local = _config(monkeypatch, {})
    ci = _config(monkeypatch, {}, mode="ci")
    assert (local.vus, local.duration_seconds, local.think_seconds) == (1, 30.0, 1.0)
    assert (ci.vus, ci.duration_seconds) == (50, 30.0)


def test_env_overrides_and_flags_win(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "FOUNDATION_PERF_VUS": "7",
        "FOUNDATION_PERF_DURATION": "1m30s",
        "FOUNDATION_PERF_THROUGHPUT_CRITICAL": "3",
        "FOUNDATION_PERF_THROUGHPUT_WARNING": "4",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
    }
    from_env = _config(monkeypatch, env, mode="ci")
    assert (from_env.vus, from_env.duration_seconds) == (7, 90.0)
    assert (from_env.throughput_critical, from_env.throughput_warning) == (3.0, 4.0)
    assert from_env.otlp_endpoint == "http://127.0.0.1:4318/v1/metrics"
    flags = _config(
        monkeypatch,
        env,
        vus=2,
        duration="10s",
        throughput_critical=1.0,
        throughput_warning=2.0,
        otlp_endpoint="http://127.0.0.1:9999",
    )
    assert (flags.vus, flags.duration_seconds) == (2, 10.0)
    assert (flags.throughput_critical, flags.throughput_warning) == (1.0, 2.0)
    assert flags.otlp_endpoint == "http://127.0.0.1:9999/v1/metrics"


def test_cli_module_does_not_import_locust_or_matplotlib() -> None:
    code = (
        "import sys, typer\n"
        "from foundation.cli import perf\n"
        "root = typer.Typer(); perf.register(root)\n"
        "import foundation.ops.perf.smoke, foundation.ops.perf.artifacts, foundation.ops.perf.compare\n"
        "import foundation.ops.perf.scenario, foundation.ops.perf.runner, foundation.ops.perf.server\n"
        "import foundation.ops.perf.otlp, foundation.ops.perf.charts\n"
        "bad = [m for m in ('locust', 'gevent', 'matplotlib', 'opentelemetry.sdk') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
