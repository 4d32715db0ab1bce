"""`foundation scaffold new|event|sync|list`: logic in foundation.client.scaffold (docs/scaffolding.md).

Exit codes: 0 created or replayed, 2 usage or validation, 3 not confirmed (spooled), 4 conflict, 5 other
API error, 6 lint failed.
"""

from __future__ import annotations

from pathlib import Path

import typer

from foundation.cli.extras import requires_extra

HELP = "Generate a feature from the template, commit and register it (SC-001); report its lifecycle from CI."


def register(root: typer.Typer) -> None:
    app = typer.Typer(name="scaffold", help=HELP, no_args_is_help=True, add_completion=False)
    for name, command in (("new", new), ("event", event), ("sync", sync), ("list", list_features)):
        app.command(name)(requires_extra("client", f"foundation scaffold {name}")(command))
    root.add_typer(app, name="scaffold")


API = typer.Option(
    None, "--api", help="API base URL (default: $FOUNDATION_API_URL, then http://127.0.0.1:8000)."
)
TOKEN = typer.Option(
    None, "--token", envvar="FOUNDATION_TOKEN", help="Bearer token (default: $FOUNDATION_TOKEN)."
)
JSON = typer.Option(False, "--json", help="Print one JSON object instead of a summary line.")


def new(
    slug: str = typer.Argument(..., help="Feature slug, kebab-case (user-settings → UserSettings)."),
    tenant: str = typer.Option(..., "--tenant", help="Tenant UUID or slug (checked against the API)."),
    root: Path = typer.Option(Path("."), "--root", help="The frontend repository (a git work tree)."),
    src: str = typer.Option(None, "--src", help="Source folder under the root (default: src)."),
    api: str = API,
    token: str = TOKEN,
    initiated_by: str = typer.Option(None, "--initiated-by", help="UUID of who initiated the feature."),
    sc: str = typer.Option(None, "--sc", help="Success criteria, e.g. @SC-001,@SC-004 (default: @SC-001)."),
    lint_cmd: str = typer.Option(None, "--lint-cmd", help="Lint command run on the generated files."),
    no_commit: bool = typer.Option(False, "--no-commit", help="Do not commit; the work tree must be clean."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; write and send nothing."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files with other content."),
    as_json: bool = JSON,
) -> None:
    """Generate, lint, commit and register a feature."""
    from foundation.client.scaffold import errors, output
    from foundation.client.scaffold.new import NewOptions, run_new

    options = NewOptions(
        slug, tenant, root, src, api, token, initiated_by, sc, lint_cmd, not no_commit, dry_run, force
    )
    try:
        report = run_new(options, output.progress)
    except errors.ScaffoldError as exc:
        raise typer.Exit(output.error(exc, as_json=as_json, featureSlug=slug)) from None
    for warning in report.warnings:
        output.warn(warning)
    if as_json:
        output.emit_json(report)
    else:
        output.summary_new(report)
    if report.problem:
        for line in output.problem_lines(report.problem):
            typer.echo(line, err=True)
    raise typer.Exit(report.exit_code)


def event(
    slug: str = typer.Argument(..., help="Feature slug."),
    type_: str = typer.Argument(..., metavar="linted|tested|published|failed", help="The event."),
    tenant: str = typer.Option(..., "--tenant", help="Tenant UUID or slug."),
    commit: str = typer.Option(None, "--commit", help="Commit the event is about (40 hex)."),
    pipeline_url: str = typer.Option(None, "--pipeline-url", help="URL of the CI run."),
    stage: str = typer.Option(None, "--stage", help="lint|test|publish (only with failed)."),
    at: str = typer.Option(
        None, "--at", help="When it happened, RFC 3339 (default: when the API receives it)."
    ),
    api: str = API,
    token: str = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Report a lifecycle event from CI (replays when a job is retried with the same arguments)."""
    from foundation.client.scaffold import errors, output
    from foundation.client.scaffold.events import EventOptions, run_event

    options = EventOptions(slug, type_, tenant, commit, pipeline_url, stage, at, api, token)
    try:
        report = run_event(options)
    except errors.ScaffoldError as exc:
        raise typer.Exit(output.error(exc, as_json=as_json, featureSlug=slug, type=type_)) from None
    if as_json:
        output.emit_json(report)
    elif report.outcome in ("created", "replayed"):
        lead = f", lead time {report.leadTimeMinutes:.1f} min" if report.leadTimeMinutes is not None else ""
        typer.echo(f"{report.outcome}: {type_} {slug} -> status {report.status}{lead}")
    else:
        detail = (report.problem or {}).get("detail", "")
        typer.echo(f"error: {type_} {slug}: {report.outcome}{': ' + detail if detail else ''}", err=True)
    for line in output.problem_lines(report.problem if report.outcome == "conflict" else None):
        typer.echo(line, err=True)
    raise typer.Exit(report.exit_code)


def sync(
    root: Path = typer.Option(Path("."), "--root", help="The frontend repository (a git work tree)."),
    as_json: bool = JSON,
) -> None:
    """Replay spooled registrations in order; remove what the API confirmed."""
    from foundation.client.scaffold import errors, output
    from foundation.client.scaffold.sync import run_sync

    try:
        report = run_sync(root)
    except errors.ScaffoldError as exc:
        raise typer.Exit(output.error(exc, as_json=as_json)) from None
    if as_json:
        output.emit_json(report)
    else:
        for result in report.results:
            where = result.get("location") or result.get("movedTo") or result.get("reason") or ""
            typer.echo(f"{result['outcome']}: {result['featureSlug']} {where}".rstrip())
            for line in output.problem_lines(result.get("problem")):
                typer.echo(line, err=True)
        if not report.results:
            typer.echo("spool empty: nothing to sync")
        elif report.remaining:
            typer.echo(f"{report.remaining} registration(s) still spooled: the API did not confirm", err=True)
    raise typer.Exit(report.exit_code)


def list_features(
    tenant: str = typer.Option(..., "--tenant", help="Tenant UUID or slug."),
    status: str = typer.Option(None, "--status", help="initiated|linted|tested|published"),
    as_json: bool = JSON,
) -> None:
    """A tenant's registered features, newest first."""
    from foundation.client.scaffold import errors, output
    from foundation.client.scaffold.listing import run_list

    try:
        items = run_list(tenant, status)
    except errors.ScaffoldError as exc:
        raise typer.Exit(output.error(exc, as_json=as_json)) from None
    if as_json:
        output.emit_json(items)
        return
    for item in items:
        lead = item.get("leadTimeMinutes")
        lead_text = f"{lead:.1f} min" if isinstance(lead, (int, float)) else "-"
        typer.echo(f"{item['featureSlug']:<32} {item['status']:<10} {item['initiatedAt']}  {lead_text}")
