"""Orchestration of `foundation perf smoke`: server, load, verdict, evidence, OTLP publication."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from foundation.ops.perf import artifacts
from foundation.ops.perf.durations import format_duration
from foundation.ops.perf.stats import RunStats, summarize
from foundation.ops.perf.verdict import Verdict, evaluate, exit_code, resolve_thresholds

MODE_DEFAULT_VUS = {"local": 1, "ci": 50}
DEFAULT_DURATION = "30s"
DEFAULT_THINK = "1s"
DEFAULT_TENANT = "tenant-alfa"


@dataclass(frozen=True)
class SmokeConfig:
    mode: str
    vus: int
    duration_seconds: float
    think_seconds: float
    tenant: str
    output_dir: Path
    base_url: str | None = None
    token: str | None = None
    otlp_endpoint: str | None = None
    fail_on: str | None = None
    throughput_critical: float | None = None
    throughput_warning: float | None = None


@dataclass
class SmokeOutcome:
    run_dir: Path
    document: dict[str, Any]
    k6: dict[str, Any]
    verdict: Verdict
    exit_code: int
    legacy: tuple[Path, Path]
    warnings: list[str] = field(default_factory=list)


class SmokeError(RuntimeError):
    """The smoke could not run (server not ready, target unreachable)."""


def _run_against(config: SmokeConfig, base_url: str, console: Console) -> Any:
    from foundation.ops.perf.runner import run_load
    from foundation.ops.perf.scenario import ScenarioSettings, build_user_class

    settings = ScenarioSettings(base_url, config.tenant, config.think_seconds, config.token)
    return run_load(
        lambda recorder: build_user_class(settings, recorder),
        vus=config.vus,
        duration_seconds=config.duration_seconds,
        host=base_url,
        console=console,
        description=f"{config.mode} {config.vus} VU {format_duration(config.duration_seconds)}",
    )


def run_smoke(config: SmokeConfig, console: Console | None = None) -> SmokeOutcome:
    from foundation.ops.perf.runner import import_locust
    from foundation.ops.perf.server import ApiServer, ServerError, wait_until

    console = console or Console(stderr=True)
    import_locust()  # patch the stdlib before sockets and subprocesses are created
    started_at = datetime.now(UTC)
    server_log: str | None = None
    if config.base_url is None:
        console.print("[dim]starting a private API server (fresh SQLite database, demo data)...[/dim]")
        server = ApiServer()
        try:
            server.start()
        except ServerError as exc:
            raise SmokeError(str(exc)) from exc
        try:
            pid = server.process.pid if server.process else "?"
            console.print(f"[dim]server ready at {server.base_url} (pid {pid})[/dim]")
            load = _run_against(config, server.base_url, console)
            if server.log_path is not None and server.log_path.exists():
                server_log = server.log_path.read_text(errors="replace")
        finally:
            server.stop()
        base_url = server.base_url
    else:
        base_url = config.base_url.rstrip("/")
        if not wait_until(f"{base_url}/health", 5.0):
            raise SmokeError(f"{base_url} is not reachable (GET /health did not answer 200 within 5s)")
        load = _run_against(config, base_url, console)

    stats = summarize(load.recorder, load.elapsed_seconds, config.vus)
    warnings = [f"locust user error: {msg}" for msg in load.exceptions]
    return record_run(
        config, stats, base_url=base_url, started_at=started_at, warnings=warnings, server_log=server_log
    )


def record_run(
    config: SmokeConfig,
    stats: RunStats,
    *,
    base_url: str,
    started_at: datetime,
    warnings: list[str] | None = None,
    server_log: str | None = None,
) -> SmokeOutcome:
    """Verdict, OTLP publication and evidence of a finished load phase (independent of locust)."""
    warnings = list(warnings or [])
    thresholds = resolve_thresholds(
        config.mode,
        config.vus,
        config.think_seconds,
        stats.overall.avg,
        config.throughput_critical,
        config.throughput_warning,
    )
    verdict = evaluate(
        total_requests=stats.overall.count,
        elapsed_seconds=stats.elapsed_seconds,
        p95_ms=stats.overall.p95,
        p99_ms=stats.overall.p99,
        error_rate=stats.overall.error_rate,
        thresholds=thresholds,
    )
    run_dir = artifacts.create_run_dir(
        config.output_dir, artifacts.run_id_for(started_at, config.mode, config.vus)
    )
    otlp = _publish(config, stats, run_dir.name, warnings)
    _render_chart(stats, run_dir, verdict.status, warnings)
    k6 = artifacts.k6_summary(stats, think_seconds=config.think_seconds, max_vus=config.vus)
    document = artifacts.throughput_document(
        stats,
        verdict,
        thresholds,
        run_id=run_dir.name,
        mode=config.mode,
        base_url=base_url,
        tenant=config.tenant,
        think_seconds=config.think_seconds,
        started_at=started_at,
        warnings=warnings,
        otlp=otlp,
    )
    _write_evidence(run_dir, stats, verdict, k6, document, server_log)
    legacy = artifacts.refresh_legacy(config.output_dir, run_dir)
    artifacts.write_index(config.output_dir)
    return SmokeOutcome(
        run_dir=run_dir,
        document=document,
        k6=k6,
        verdict=verdict,
        exit_code=exit_code(verdict.status, config.mode, config.fail_on),
        legacy=legacy,
        warnings=warnings,
    )


def _publish(config: SmokeConfig, stats: RunStats, run_id: str, warnings: list[str]) -> dict[str, Any]:
    """Throughput and p95 as OTLP metrics when an endpoint is configured; a failure becomes a warning."""
    if not config.otlp_endpoint:
        return {"endpoint": None, "published": False, "error": None}
    from foundation.ops.perf.otlp import publish_run_metrics

    otlp = publish_run_metrics(
        config.otlp_endpoint,
        throughput=stats.throughput,
        p95_ms=stats.overall.p95,
        tenant=config.tenant,
        mode=config.mode,
        run_id=run_id,
    )
    if not otlp["published"]:
        warnings.append(f"OTLP publication failed: {otlp['error']}")
    return otlp


def _write_evidence(
    run_dir: Path,
    stats: RunStats,
    verdict: Verdict,
    k6: dict[str, Any],
    document: dict[str, Any],
    server_log: str | None,
) -> None:
    """The run's files: k6-style summary, throughput document, Markdown summary, server log."""
    artifacts.write_json(run_dir / artifacts.K6_FILE, k6)
    artifacts.write_json(run_dir / artifacts.THROUGHPUT_FILE, document)
    (run_dir / artifacts.SUMMARY_FILE).write_text(
        artifacts.summary_markdown(document, k6, verdict, stats.top_failures, server_log is not None),
        encoding="utf-8",
    )
    if server_log is not None:
        (run_dir / "server.log").write_text(server_log, encoding="utf-8")


def _render_chart(stats: RunStats, run_dir: Path, status: str, warnings: list[str]) -> None:
    try:
        from foundation.ops.perf.charts import render_latency_chart

        render_latency_chart(stats, run_dir / artifacts.CHART_FILE, f"{run_dir.name}: {status}")
    except Exception as exc:  # the chart is evidence, not a reason to lose the run
        warnings.append(f"latency chart not rendered: {type(exc).__name__}: {exc}")
