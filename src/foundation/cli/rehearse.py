"""`foundation rehearse`: several API instances behind HAProxy on one PostgreSQL and one Redis, in the
foreground until Ctrl-C (the logic lives in foundation.ops.rehearsal; `make rehearse` runs its tests)."""

from __future__ import annotations

import signal
import socket
import threading
from pathlib import Path

import typer

from foundation.cli.errors import fail


def register(root: typer.Typer) -> None:
    root.command(help="Run N API instances behind HAProxy (private PostgreSQL and Redis) until Ctrl-C.")(
        rehearse
    )


def rehearse(
    instances: int = typer.Option(3, min=1, max=8, help="API instances (`foundation serve` processes)."),
    port: int = typer.Option(8080, min=1, max=65535, help="The load balancer's port on 127.0.0.1."),
    directory: Path = typer.Option(
        Path("var/rehearsal"), "--dir", help="PostgreSQL, Redis, HAProxy and instance logs (removed at exit)."
    ),
) -> None:
    from foundation.ops.rehearsal import haproxy
    from foundation.ops.rehearsal.fleet import Fleet

    try:
        haproxy.binary()
    except RuntimeError as exc:
        fail(str(exc))
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror} (choose another with --port)")
    # Handlers, not a blocked signal mask: a mask would be inherited by every process the fleet starts.
    stop = threading.Event()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: stop.set())
    typer.echo(
        f"starting {instances} instance(s), PostgreSQL, Redis and HAProxy under {directory} ...", err=True
    )
    try:
        with Fleet(directory, instances=instances, balancer_port=port) as fleet:
            assert fleet.cluster is not None and fleet.balancer.process is not None  # noqa: S101  # type narrowing: set once the fleet started
            typer.echo(f"balancer:  {fleet.url}  (pid {fleet.balancer.process.pid})")
            typer.echo(f"runtime:   {fleet.balancer.config.runtime_socket}  (HAProxy's admin socket)")
            for instance in fleet.instances:
                typer.echo(f"{instance.name}:      {instance.url}  (pid {instance.pid})")
            typer.echo(f"postgres:  127.0.0.1:{fleet.cluster.port} (owner URL: {fleet.owner_url})")
            typer.echo(f"redis:     127.0.0.1:{fleet.redis_port}")
            typer.echo("Ctrl-C stops everything.", err=True)
            while not stop.wait(1):
                pass
            typer.echo("stopping ...", err=True)
    except (RuntimeError, TimeoutError, OSError) as exc:
        fail(f"the rehearsal could not start: {exc}".splitlines()[0])
