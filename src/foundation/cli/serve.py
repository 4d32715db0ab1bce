"""`foundation serve`: preflight checks, then uvicorn (several workers share metrics in multiprocess mode)."""

from __future__ import annotations

import os
import shutil
import socket
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from foundation.cli._common import ensure_sqlite_parent, run_db, settings
from foundation.cli.errors import fail

if TYPE_CHECKING:
    from foundation.settings import Settings


class EventLoop(StrEnum):
    asyncio = "asyncio"
    uvloop = "uvloop"


def register(root: typer.Typer) -> None:
    root.command(help="Serve the API with uvicorn.")(serve)


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes."),
    reload: bool = typer.Option(False, help="Restart on code changes (development)."),
    loop: EventLoop = typer.Option(
        EventLoop.asyncio,
        help="Event loop. asyncio keeps the latency tail flat under saturation; uvloop serves ~15 % more "
        "requests per second with a p99 several times higher (docs/benchmarks.md).",
    ),
    reuse_port: bool = typer.Option(
        True,
        help="With several workers on Linux, a listening socket per worker (SO_REUSEPORT) so the kernel "
        "spreads connections evenly; --no-reuse-port shares one socket, as uvicorn does.",
    ),
) -> None:
    config = settings()
    _preflight_security(config)
    ensure_sqlite_parent(config.database_url)
    _preflight_database(config)
    _check_port(host, port)
    if workers > 1 and config.metrics_enabled:
        _prepare_multiprocess_metrics(config.var_dir, port)
    from foundation.http import listeners
    from foundation.http.server_protocol import PROTOCOL_PATH

    typer.echo(f"api: http://{host}:{port}", err=True)
    listeners.run(
        "foundation.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers if not reload else 1,
        reuse_port=reuse_port,
        reload=reload,
        loop=loop.value,
        http=PROTOCOL_PATH,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )


def _preflight_security(config: Settings) -> None:
    """Profile rules (production needs auth=jwt and no HS256 secret) and a readable JWKS file."""
    from foundation.auth.authenticator import InsecureConfiguration, check_security

    try:
        check_security(config, load_keys=True)
    except InsecureConfiguration as exc:
        fail(f"refusing to start: {exc}")


def _preflight_database(config: Settings) -> None:
    from foundation import schema_compatibility as compatibility
    from foundation.db import Database
    from foundation.db_role import RoleReport, inspect_role
    from foundation.migrations import runner
    from foundation.settings import Profile

    url = config.database_url
    report: RoleReport | None = None
    schema = compatibility.SchemaState(None, None)

    async def ping() -> None:
        nonlocal report, schema
        db = Database(url)
        try:
            await db.ping()
            report = await inspect_role(db.engine)
            schema = await compatibility.read_state(db.engine)
        finally:
            await db.dispose()

    run_db(ping, url)
    script = runner.script_directory()
    refusal = compatibility.refusal(script, schema)
    if refusal is not None:
        fail(f"refusing to start: {refusal}")
    if schema.revision != script.get_current_head():
        typer.echo(
            f"warning: the database schema ({schema.revision}) is newer than this release's "
            f"({script.get_current_head()}); the migrations since then only expanded it, so this release "
            "serves it",
            err=True,
        )
    if report is not None and not report.safe:
        if config.profile is Profile.production:
            fail(f"refusing to start: {report.message()}")
        typer.echo(f"warning: {report.message()} (refused by the production profile)", err=True)


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror} (choose another with --port)")


def _prepare_multiprocess_metrics(var_dir: Path, port: int) -> None:
    """A fresh directory per server: stale files from a previous run would add old counts."""
    directory = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or var_dir / f"prometheus-multiproc-{port}")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory.resolve())
