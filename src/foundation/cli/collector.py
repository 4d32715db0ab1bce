"""`foundation collector`: the embedded OTLP/HTTP receiver for machines without the real collector."""

from __future__ import annotations

from pathlib import Path

import typer

from foundation.cli.errors import fail
from foundation.cli.extras import requires_extra


def register(root: typer.Typer) -> None:
    root.command("collector")(requires_extra("ops", "foundation collector")(collector))


def collector(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (keep 127.0.0.1 unless you need remote)."),
    port: int = typer.Option(4318, min=0, max=65535, help="OTLP/HTTP port (0 picks a free one)."),
    data_dir: Path = typer.Option(Path("var/collector"), help="Where spans/metrics/logs JSONL files go."),
    max_file_bytes: int = typer.Option(10 * 1024 * 1024, min=1, help="Rotate a file once it exceeds this."),
    max_files: int = typer.Option(5, min=1, help="Files kept per kind, the live one included."),
) -> None:
    """Receive OTLP/HTTP traces, metrics and logs; store them as rotating JSON lines; expose /metrics."""
    from foundation.ops.collector.server import PortInUseError, bind_socket, serve_collector

    try:
        sock = bind_socket(host, port)
    except PortInUseError:
        fail(f"port {port} on {host} is already in use (another collector?); choose another with --port")
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    try:
        serve_collector(
            host,
            port,
            data_dir,
            max_file_bytes,
            max_files,
            sock=sock,
            on_listening=lambda url: typer.echo(f"collector: {url}", nl=True),
        )
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
