"""`foundation stack up|down|status`: collector, API, Prometheus and live dashboard, natively."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from foundation.http import listeners
from foundation.ops.procs import WaitTimeout, free_port, wait_until
from foundation.ops.stack import config, procs, state
from foundation.ops.stack.state import Component, StackState

HOST = "127.0.0.1"
ORDER = ("collector", "api", "prometheus", "dashboard")
RELAXED_RATE_LIMITS = {
    "FOUNDATION_RATE_LIMIT_SCAFFOLD_PER_MINUTE": "100000",
    "FOUNDATION_RATE_LIMIT_THEME_READ_PER_MINUTE": "100000",
    "FOUNDATION_RATE_LIMIT_METRICS_READ_PER_MINUTE": "100000",
    "FOUNDATION_RATE_LIMIT_STORIES_READ_PER_MINUTE": "100000",
    "FOUNDATION_RATE_LIMIT_WRITE_PER_MINUTE": "100000",
}


class StackError(RuntimeError):
    pass


@dataclass
class UpOptions:
    state_dir: Path = config.DEFAULT_STATE_DIR
    api_port: int = config.DEFAULT_PORTS["api"]
    collector_port: int = config.DEFAULT_PORTS["collector"]
    prometheus_port: int = config.DEFAULT_PORTS["prometheus"]
    dashboard_port: int = config.DEFAULT_PORTS["dashboard"]
    api_workers: int = 1
    relaxed_rate_limits: bool = True
    timeout: float = 90.0


def _cli(*args: str) -> list[str]:
    return config.cli_command(*args)


def _healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(component: Component, check: Callable[[], bool], timeout: float, what: str) -> None:
    def ready() -> bool:
        if not component.alive():
            raise StackError(f"{component.name} exited during start-up; see its log: {component.log}")
        return check()

    try:
        wait_until(ready, timeout, 0.25, what=f"{component.name} {what}")
    except WaitTimeout:
        raise StackError(
            f"{component.name} not {what} after {timeout:.0f}s; see its log: {component.log}"
        ) from None


def running(state_dir: Path) -> StackState | None:
    """The recorded stack when every component is still alive, else None."""
    current = state.load(state_dir)
    if current and current.components and all(c.alive() for c in current.components.values()):
        return current
    return None


def _setup_database(env: dict[str, str], state_dir: Path) -> None:
    log = state_dir / "logs" / "api-setup.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        for args in (("db", "upgrade"), ("seed", "--demo-data")):
            result = subprocess.run(_cli(*args), env=env, stdout=out, stderr=subprocess.STDOUT, timeout=120)
            if result.returncode != 0:
                raise StackError(f"api: `foundation {' '.join(args)}` failed; see its log: {log}")


def _targets_up(prometheus_url: str, expected: int) -> bool:
    try:
        body = httpx.get(f"{prometheus_url}/api/v1/targets", timeout=2.0).json()
    except (httpx.HTTPError, ValueError):
        return False
    active = body.get("data", {}).get("activeTargets", [])
    return len(active) >= expected and all(t.get("health") == "up" for t in active)


def up(options: UpOptions, echo: Callable[[str], None] = print) -> StackState:
    state_dir = options.state_dir.resolve()
    existing = running(state_dir)
    if existing:
        echo("stack already running")
        return existing
    stale = state.load(state_dir)
    if stale:
        down(state_dir, echo=lambda _msg: None)
    prometheus_bin = config.find_prometheus()
    if prometheus_bin is None:
        raise StackError(config.PROMETHEUS_INSTALL_HINT)
    state_dir.mkdir(parents=True, exist_ok=True)
    taken: set[int] = set()
    ports: dict[str, int] = {}
    for name, preferred in (
        ("collector", options.collector_port),
        ("api", options.api_port),
        ("prometheus", options.prometheus_port),
        ("dashboard", options.dashboard_port),
    ):
        ports[name] = free_port(preferred, taken=taken)
        taken.add(ports[name])
    urls = {name: f"http://{HOST}:{port}" for name, port in ports.items()}
    current = StackState(state_dir=str(state_dir), started_at=datetime.now(UTC).isoformat(timespec="seconds"))
    current.extra["rules_file"] = None
    try:
        _start_all(_Starter(options, state_dir, ports, urls, current), prometheus_bin, echo)
    except BaseException:
        for component in reversed(list(current.components.values())):
            if component.alive():
                procs.stop(component.pid)
        state.clear(state_dir, list(current.components))
        raise
    for name in ORDER:
        echo(f"{name}: {current.components[name].url}")
    return current


def _start_all(starter: _Starter, prometheus_bin: str, echo: Callable[[str], None]) -> None:
    """Start every component in ORDER, each healthy before the next; then wait for the scrape targets."""
    base_env = dict(os.environ)
    _start_collector(starter, base_env)
    _start_api(starter, base_env)
    _start_prometheus(starter, prometheus_bin, base_env, echo)
    _start_dashboard(starter, base_env)
    current = starter.current
    _wait_targets(current.components["prometheus"], current, starter.options.timeout)


@dataclass
class _Starter:
    """Launches one component, records it in the state file, then waits until it answers its health URL."""

    options: UpOptions
    state_dir: Path
    ports: dict[str, int]
    urls: dict[str, str]
    current: StackState

    def start(
        self, name: str, cmd: list[str], env: dict[str, str], health_path: str, what: str, url_path: str = ""
    ) -> Component:
        log = self.state_dir / "logs" / f"{name}.log"
        proc = procs.start(cmd, log, env=env)
        # The recorded cmdline is what /proc reports (identity check for `down`).
        cmdline = procs.wait_cmdline(proc.pid) or cmd
        comp = Component(
            name=name,
            pid=proc.pid,
            port=self.ports[name],
            url=self.urls[name] + url_path,
            health_url=self.urls[name] + health_path,
            log=str(log),
            cmdline=cmdline,
        )
        # Recorded before the wait, so a failed start-up still stops it (see `up`).
        self.current.components[name] = comp
        state.save(self.current)
        _wait(comp, lambda: _healthy(comp.health_url), self.options.timeout, what)
        return comp


def _start_collector(starter: _Starter, env: dict[str, str]) -> None:
    port, data_dir = starter.ports["collector"], starter.state_dir / "collector"
    cmd = _cli("collector", "--host", HOST, "--port", str(port), "--data-dir", str(data_dir))
    starter.start("collector", cmd, env, "/health", "healthy")


def _api_env(starter: _Starter, base_env: dict[str, str]) -> dict[str, str]:
    env = dict(base_env)
    env.update(
        {
            "FOUNDATION_DATABASE_URL": f"sqlite+aiosqlite:///{starter.state_dir / 'foundation.db'}",
            "OTEL_EXPORTER_OTLP_ENDPOINT": starter.urls["collector"],
            "OTEL_SERVICE_NAME": "iabank-foundation",
        }
    )
    if starter.options.relaxed_rate_limits:
        env.update(RELAXED_RATE_LIMITS)
    return env


def _start_api(starter: _Starter, base_env: dict[str, str]) -> None:
    env = _api_env(starter, base_env)
    _setup_database(env, starter.state_dir)
    workers = starter.options.api_workers
    cmd = _cli("serve", "--host", HOST, "--port", str(starter.ports["api"]))
    if workers > 1:
        cmd += ["--workers", str(workers)]
    comp = starter.start("api", cmd, env, "/health/ready", "ready")
    if workers > 1 and listeners.REUSE_PORT_BALANCES:
        # Ready means one worker answered; the others take connections once they listen too.
        _wait(
            comp,
            lambda: listeners.listening_sockets(comp.port) >= workers,
            starter.options.timeout,
            "all workers listening",
        )


def _start_prometheus(
    starter: _Starter, prometheus_bin: str, env: dict[str, str], echo: Callable[[str], None]
) -> None:
    rules = config.find_rules_file()
    if rules is None:
        echo(f"warning: {config.RULES_FILE} not found; Prometheus starts without rules")
    starter.current.extra["rules_file"] = str(rules) if rules else None
    ports, state_dir = starter.ports, starter.state_dir
    prom_config = config.write_prometheus_config(
        state_dir / "prometheus.yml",
        config.prometheus_config(f"{HOST}:{ports['api']}", f"{HOST}:{ports['collector']}", rules),
    )
    cmd = [
        prometheus_bin,
        f"--config.file={prom_config}",
        f"--storage.tsdb.path={state_dir / 'prometheus'}",
        f"--web.listen-address={HOST}:{ports['prometheus']}",
        "--storage.tsdb.retention.time=7d",
    ]
    starter.start("prometheus", cmd, env, "/-/ready", "ready")


def _start_dashboard(starter: _Starter, env: dict[str, str]) -> None:
    cmd = [sys.executable, "-m", "foundation.ops.dashboards.server"]
    cmd += ["--host", HOST, "--port", str(starter.ports["dashboard"])]
    cmd += ["--prometheus", starter.urls["prometheus"]]
    starter.start("dashboard", cmd, env, "/health", "healthy", url_path="/")


def _wait_targets(prometheus: Component, current: StackState, timeout: float) -> None:
    with contextlib.suppress(WaitTimeout):
        wait_until(
            lambda: _targets_up(prometheus.url, expected=2), timeout, 0.5, what="Prometheus targets up"
        )
        return
    try:
        body = httpx.get(f"{prometheus.url}/api/v1/targets", timeout=2.0).json()
        active = body.get("data", {}).get("activeTargets", [])
    except (httpx.HTTPError, ValueError):
        active = []
    down_jobs = [t for t in active if t.get("health") != "up"]
    names = {"foundation-api": "api", "foundation-collector": "collector"}
    details = []
    for target in down_jobs:
        component = current.components.get(names.get(target.get("labels", {}).get("job", ""), ""))
        log = component.log if component else prometheus.log
        details.append(
            f"{target.get('scrapeUrl')} is {target.get('health')} ({target.get('lastError')}); see {log}"
        )
    raise StackError(
        "Prometheus targets not up: " + ("; ".join(details) or f"no targets; see {prometheus.log}")
    )


def down(state_dir: Path, echo: Callable[[str], None] = print) -> list[str]:
    state_dir = state_dir.resolve()
    current = state.load(state_dir)
    if current is None:
        echo("stack not running (no state file)")
        return []
    stopped: list[str] = []
    for name in reversed(ORDER):
        component = current.components.get(name)
        if component is None:
            continue
        if component.alive():
            ok = procs.stop(component.pid)
            echo(f"{name}: stopped pid {component.pid}" + ("" if ok else " (still exiting)"))
            stopped.append(name)
        else:
            echo(f"{name}: pid {component.pid} not running (or not ours); left alone")
    state.clear(state_dir, list(current.components))
    return stopped


def status(state_dir: Path) -> list[dict[str, object]]:
    current = state.load(state_dir.resolve())
    rows: list[dict[str, object]] = []
    if current is None:
        return rows
    for name in ORDER:
        component = current.components.get(name)
        if component is None:
            continue
        alive = component.alive()
        health = "down"
        if alive:
            health = "healthy" if _healthy(component.health_url) else "unhealthy"
        rows.append(
            {
                "component": name,
                "pid": component.pid,
                "port": component.port,
                "url": component.url,
                "health": health,
            }
        )
    return rows
