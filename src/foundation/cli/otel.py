"""`foundation otel`: send bootstrap spans to an OTLP/HTTP endpoint and report what was acknowledged."""

from __future__ import annotations

import json

import typer

from foundation.cli.errors import fail
from foundation.cli.extras import requires_extra


def register(root: typer.Typer) -> None:
    root.command("otel")(requires_extra("client", "foundation otel")(otel))


def otel(
    endpoint: str = typer.Option(
        None,
        help="OTLP/HTTP base URL or full /v1/traces URL (default: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, "
        "$OTEL_EXPORTER_OTLP_ENDPOINT or http://127.0.0.1:4318).",
    ),
    tenant: str = typer.Option("tenant-alfa", help="Tenant slug set as span attribute `tenant`."),
    feature: str = typer.Option("foundation-bootstrap", help="Feature slug set as span attribute `feature`."),
    service: str = typer.Option("foundation-cli", help="Resource attribute service.name."),
    resource: str = typer.Option("", help="Extra resource attributes: k=v,k2=v2."),
    count: int = typer.Option(1, min=1, max=10000, help="Number of spans, sent in one export request."),
    token: str = typer.Option(None, envvar="FOUNDATION_TOKEN", help="Sent as Authorization: Bearer."),
    timeout: float = typer.Option(10.0, min=0.1, help="HTTP timeout in seconds."),
) -> None:
    """Export FOUNDATION-TENANT-BOOTSTRAP spans; exit 1 unless every span was acknowledged."""
    from foundation.client.spans import parse_resource, send_bootstrap_spans

    try:
        resource_attributes = parse_resource(resource)
    except ValueError as exc:
        fail(str(exc))
    result = send_bootstrap_spans(
        endpoint,  # None: resolved from OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, then the default
        tenant=tenant,
        feature=feature,
        service=service,
        resource=resource_attributes,
        count=count,
        token=token,
        timeout=timeout,
    )
    typer.echo(json.dumps(result, indent=2))
    if result["errors"] or result["exportedSpans"] != count:
        raise typer.Exit(1)
