"""`foundation metrics ingest KIND FILE…`: success-criteria reports → samples in the API.

Definitions and the CI recipe: docs/success-criteria.md.

Exit status: 0 written (or a dry run); 2 bad input (unknown kind, unreadable or malformed file, bad option),
nothing sent; 1 the API was unreachable or refused a request (the message says what had been written), once
transient failures (connection errors, timeouts, 429, 500/502/503/504) were retried for up to
``--retry-seconds`` / ``FOUNDATION_INGEST_RETRY_SECONDS``; each retry prints one line on stderr.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from pathlib import Path

import typer

from foundation.cli.errors import fail
from foundation.cli.extras import requires_extra

INPUT_ERROR = 2
TENANT = re.compile(
    r"^(?:[a-z0-9-]{1,32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)
FEATURE = re.compile(r"^[a-z0-9-]{1,64}$")

metrics_app = typer.Typer(help="Success criteria SC-001…SC-005: report ingestion.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(metrics_app, name="metrics")


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (text or "").split(",") if item.strip())


def _collected_at(text: str | None) -> datetime | None:
    from foundation.client.ingest.model import InputError, parse_time

    if text is None:
        return None
    try:
        return parse_time(text, Path("--collected-at"), "the value")
    except InputError as exc:
        fail(f"--collected-at: {exc.what}", INPUT_ERROR)


def _retry_seconds(text: str | None) -> float | None:
    """The retry budget, None for the default; one error line when it is not a number of seconds ≥ 0."""
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        fail(
            f"--retry-seconds (FOUNDATION_INGEST_RETRY_SECONDS): {text!r} is not a number of seconds ≥ 0",
            INPUT_ERROR,
        )
    return value


@metrics_app.command("ingest")
@requires_extra("client", "foundation metrics ingest")
def ingest(
    kind: str = typer.Argument(..., help="storybook | lighthouse | axe | pact | pii-audit"),
    files: list[Path] = typer.Argument(..., help="The report files (see docs/success-criteria.md)."),
    tenant: str = typer.Option(..., "--tenant", help="Tenant slug or UUID the samples belong to."),
    feature: str | None = typer.Option(None, "--feature", help="featureSlug of the samples."),
    api: str = typer.Option(
        "http://127.0.0.1:8000", "--api", envvar="FOUNDATION_API_URL", help="API base URL."
    ),
    token: str | None = typer.Option(None, "--token", envvar="FOUNDATION_TOKEN", help="Bearer token."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Parse and compute; send nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
    collected_at: str | None = typer.Option(
        None, "--collected-at", help="RFC 3339 time for reports without one (storybook, pact JSON report)."
    ),
    critical: str | None = typer.Option(None, "--critical", help="storybook: critical components, a,b,…"),
    active_tenants: str | None = typer.Option(
        None,
        "--active-tenants",
        help="storybook: tenants every critical component needs a story for [--tenant].",
    ),
    storybook_url: str = typer.Option(
        "http://127.0.0.1:6006", "--storybook-url", help="storybook: base URL of the published Storybook."
    ),
    build: str | None = typer.Option(None, "--build", help="storybook: build id stored as chromaticBuild."),
    timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="HTTP timeout in seconds."),
    retry_seconds: str | None = typer.Option(
        None,
        "--retry-seconds",
        envvar="FOUNDATION_INGEST_RETRY_SECONDS",
        show_default=False,
        help="Time budget in seconds of each request's retries (default 30). Connection errors, timeouts, "
        "429 and 500/502/503/504 are retried with backoff, honouring Retry-After, one stderr line per retry; "
        "a Retry-After longer than what is left gives up at once, saying what was written; 0: no retry.",
    ),
) -> None:
    """Read a tool's report, compute its criterion and post the samples (idempotent, retried if transient)."""
    from foundation.client.ingest.api import DEFAULT_RETRY_SECONDS, ApiError
    from foundation.client.ingest.model import InputError, Options
    from foundation.client.ingest.runner import ingest as run_ingest
    from foundation.client.ingest.runner import summary_lines

    if not TENANT.match(tenant):
        fail(f"--tenant: {tenant!r} is neither a tenant slug nor a UUID", INPUT_ERROR)
    if feature is not None and not FEATURE.match(feature):
        fail(f"--feature: {feature!r} must match ^[a-z0-9-]{{1,64}}$", INPUT_ERROR)
    if not re.match(r"^https?://[!-~]+$", storybook_url):
        fail(f"--storybook-url: {storybook_url!r} is not an http(s) URL", INPUT_ERROR)
    if not re.match(r"^https?://[!-~]+$", api):
        fail(f"--api: {api!r} is not an http(s) URL", INPUT_ERROR)
    options = Options(
        tenant=tenant,
        feature=feature,
        collected_at=_collected_at(collected_at),
        critical=_names(critical),
        active_tenants=_names(active_tenants),
        storybook_url=storybook_url,
        build=build,
    )
    budget = _retry_seconds(retry_seconds)
    try:
        outcome = run_ingest(
            kind,
            files,
            options,
            api_url=api,
            token=token,
            dry_run=dry_run,
            timeout=timeout,
            on_retry=lambda line: typer.echo(line, err=True),
            retry_seconds=DEFAULT_RETRY_SECONDS if budget is None else budget,
        )
    except InputError as exc:
        fail(f"{exc.where}: {exc.what}", INPUT_ERROR)
    except ApiError as exc:
        requests = exc.written.get("requests") or []
        done = "nothing was written" if not requests else "written before the failure: " + "; ".join(requests)
        fail(f"{exc} ({done}; every write is idempotent: run the same command again)")
    if as_json:
        typer.echo(json.dumps(outcome, indent=2, ensure_ascii=False))
    else:
        for line in summary_lines(outcome):
            typer.echo(line)
