"""`foundation scaffold new`: check the tenant, render the template, write, lint, commit, register.

Each step reports one progress line with its time and, when traces are exported, is one span. The outcome is
``created`` / ``replayed`` (exit 0), ``conflict`` (4), ``spooled`` (3) or ``dry_run``; anything that stops
earlier raises :class:`ScaffoldError` with its exit code (docs/scaffolding.md).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from foundation.client.scaffold import errors, lint, naming, registration, repo, spool, template
from foundation.client.scaffold.answers import load_answers, template_data
from foundation.client.scaffold.api import Api, Unconfirmed, api_url, final_error, retry_budget
from foundation.client.scaffold.tenant import (
    TenantInfo,
    check_not_registered,
    resolve_tenant,
    save_stylesheet,
)
from foundation.client.scaffold.tracing import Tracer

SC_REFERENCE = re.compile(r"^@SC-00[1-5]$")
Progress = Callable[[str, str, float], None]


@dataclass
class NewOptions:
    slug: str
    tenant: str
    root: Path
    src: str | None = None
    api: str | None = None
    token: str | None = None
    initiated_by: str | None = None
    sc: str | None = None
    lint_cmd: str | None = None
    commit: bool = True
    dry_run: bool = False
    force: bool = False


@dataclass
class Report:
    outcome: str
    featureSlug: str
    tenantId: str | None = None
    scaffoldId: str | None = None
    location: str | None = None
    files: list[dict[str, str]] = field(default_factory=list)
    lintCommitHash: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    traceId: str | None = None
    lint: str | None = None
    templateVersion: str | None = None
    spooledTo: str | None = None
    problem: dict[str, Any] | None = None
    request: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return {"conflict": errors.CONFLICT, "spooled": errors.NOT_CONFIRMED}.get(self.outcome, errors.OK)


@dataclass
class _Run:
    """What the steps of one `new` share."""

    options: NewOptions
    root: Path
    config: dict[str, Any]
    data: dict[str, Any]
    version: str
    tenant: TenantInfo
    report: Report
    api: Api
    tracer: Tracer
    progress: Progress


class _Timer:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 1)


def _parse_options(options: NewOptions) -> tuple[list[str], str | None]:
    try:
        naming.check_slug(options.slug)
    except naming.InvalidSlug as exc:
        raise errors.ScaffoldError(errors.USAGE, str(exc)) from None
    references = [r.strip() for r in (options.sc or "").split(",") if r.strip()]
    for reference in references:
        if not SC_REFERENCE.fullmatch(reference):
            raise errors.ScaffoldError(errors.USAGE, f"--sc: {reference!r} is not one of @SC-001..@SC-005")
    initiated_by = options.initiated_by
    if initiated_by is not None:
        try:
            initiated_by = str(uuid.UUID(initiated_by))
        except ValueError:
            raise errors.ScaffoldError(
                errors.USAGE, f"--initiated-by must be a UUID: {initiated_by!r}"
            ) from None
    return references, initiated_by


def run_new(options: NewOptions, progress: Progress) -> Report:
    started_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    references, initiated_by = _parse_options(options)
    root = repo.work_tree(options.root)
    config = repo.config(root)
    previous = load_answers(root, options.slug)
    tracer = Tracer("new")
    report = Report("dry_run" if options.dry_run else "created", options.slug, traceId=tracer.trace_id())
    try:
        with Api(api_url(options.api), options.token, budget=retry_budget()) as api:
            tenant = resolve_tenant(api, root, options.tenant)
            report.warnings.extend(tenant.warnings)
            if previous is None:
                check_not_registered(api, tenant, options.slug)
            data, version = template_data(
                options,
                config,
                previous,
                tenant,
                started_at=started_at,
                sc=references,
                initiated_by=initiated_by,
            )
            report.templateVersion = version
            _generate(_Run(options, root, config, data, version, tenant, report, api, tracer, progress))
    finally:
        tracer.finish(**{"scaffold.outcome": report.outcome, "scaffold.feature": options.slug})
    return report


def _generate(run: _Run) -> None:
    options, root, report = run.options, run.root, run.report
    timer = _Timer()
    with run.tracer.step("template", **{"scaffold.template_version": run.version}):
        rendered = template.render(options.slug, run.data, run.version)
        ignore = root / repo.IGNORE_FILE
        current = ignore.read_text(encoding="utf-8") if ignore.is_file() else None
        rendered.append(
            template.RenderedFile(repo.IGNORE_FILE.as_posix(), repo.ignore_file_content(current).encode())
        )
        writes = _plan_writes(root, rendered, force=options.force)
        src_dir = str(run.data["src_dir"])
        if options.dry_run:
            files = _entries(src_dir, {f.path: f.content for f in rendered})
        else:
            for item in writes:
                target = root / item.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(item.content)
            save_stylesheet(root, run.tenant)
            template.persist(root)
            files = _entries(src_dir, {f.path: (root / f.path).read_bytes() for f in rendered})
    report.timings["templateMs"] = timer.ms()
    report.files = [f.as_dict() for f in files]
    if options.dry_run:
        report.request = _request(run, files, None)
        run.progress("template", f"{len(rendered)} files planned (dry run)", report.timings["templateMs"])
        return
    slices = len({f.slice for f in files})
    run.progress(
        "template",
        f"{len(files)} files in {slices} slices, {len(writes)} written (feature template {run.version})",
        report.timings["templateMs"],
    )
    _lint(run, files)
    _commit(run, [f.path for f in rendered])
    _register(run, files)


def _plan_writes(
    root: Path, rendered: list[template.RenderedFile], *, force: bool
) -> list[template.RenderedFile]:
    """Files to write: new ones, and changed ones only with ``force`` (identical files are left alone)."""
    writes, conflicts = [], []
    for item in rendered:
        target = root / item.path
        if target.is_file() and target.read_bytes() == item.content:
            continue
        if target.exists() and not force:
            conflicts.append(item.path)
        writes.append(item)
    if conflicts:
        listed = ", ".join(conflicts[:5]) + (f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else "")
        raise errors.ScaffoldError(
            errors.USAGE,
            f"{len(conflicts)} file(s) exist with other content (--force overwrites them): {listed}",
        )
    return writes


def _entries(src_dir: str, contents: dict[str, bytes]) -> list[registration.FileEntry]:
    import hashlib

    entries = []
    for path, content in sorted(contents.items()):
        layer = registration.slice_of(path, src_dir)
        if layer is not None:
            entries.append(registration.FileEntry(layer, path, hashlib.sha256(content).hexdigest()))
    return entries


def _lint(run: _Run, files: list[registration.FileEntry]) -> None:
    timer = _Timer()
    command = lint.command_of(run.options.lint_cmd, run.config)
    with run.tracer.step("lint"):
        try:
            result = lint.run(run.root, command, [f.path for f in files])
        finally:
            run.report.timings["lintMs"] = timer.ms()
    run.report.lint = result.status
    detail = "skipped (no lint command configured)" if result.command is None else f"passed: {result.command}"
    run.progress("lint", detail, run.report.timings["lintMs"])


def _commit(run: _Run, paths: list[str]) -> None:
    options, root, report = run.options, run.root, run.report
    timer = _Timer()
    with run.tracer.step("commit"):
        if not options.commit:
            dirty = repo.dirty(root)
            if dirty:
                raise errors.ScaffoldError(
                    errors.USAGE,
                    f"--no-commit registers HEAD, so the work tree must be clean; {len(dirty)} "
                    f"change(s), e.g. {dirty[0]}",
                )
            sha, what = repo.head(root), "HEAD (--no-commit)"
        elif repo.changed(root, paths):
            sha = repo.commit(
                root, paths, f"feat({options.slug}): scaffold {options.slug} (foundation scaffold)"
            )
            what = "committed"
        else:
            sha, what = repo.last_commit_of(root, paths), "unchanged, already committed in"
    if sha is None:
        raise errors.ScaffoldError(
            errors.USAGE, "the repository has no commit to register (git log is empty)"
        )
    report.lintCommitHash = sha
    report.timings["commitMs"] = timer.ms()
    run.progress("commit", f"{what} {sha[:12]}", report.timings["commitMs"])


def _request(run: _Run, files: list[registration.FileEntry], commit: str | None) -> dict[str, Any]:
    slug, data = run.options.slug, run.data
    body = registration.body(
        slug=slug,
        initiated_by=str(data["initiated_by"]),
        files=files,
        commit=commit,
        sc_references=list(data["sc_references"]),
        started_at=str(data["started_at"]),
        template_version=run.version,
    )
    key = registration.idempotency_key(run.tenant.key, slug, files)
    return {
        "method": "POST",
        "path": registration.path_of(run.tenant.identifier),
        "featureSlug": slug,
        "headers": {"X-Tenant-Id": run.tenant.identifier, "Idempotency-Key": key},
        "body": body,
    }


def _register(run: _Run, files: list[registration.FileEntry]) -> None:
    report, slug = run.report, run.options.slug
    timer = _Timer()
    request = _request(run, files, report.lintCommitHash)
    with run.tracer.step("register", **{"scaffold.feature": slug}):
        try:
            answer = run.api.request(
                "POST",
                request["path"],
                headers={**request["headers"], "traceparent": run.tracer.traceparent()},
                json=request["body"],
            )
        except Unconfirmed as exc:
            report.timings["registerMs"] = timer.ms()
            path = spool.add(run.root, {**request, "api": run.api.base_url})
            report.outcome, report.spooledTo = "spooled", path.relative_to(run.root).as_posix()
            run.progress(
                "register",
                f"not confirmed ({exc.reason} after {exc.attempts} attempt(s)); spooled to "
                f"{report.spooledTo}: run `foundation scaffold sync`",
                report.timings["registerMs"],
            )
            return
    report.timings["registerMs"] = timer.ms()
    apply_answer(report, answer, what=f"register {slug}")
    shown = f"{report.outcome}: {report.location}" if report.location else report.outcome
    run.progress("register", shown, report.timings["registerMs"])


def apply_answer(report: Report, answer: Any, *, what: str) -> None:
    """Record a final registration answer in ``report``; anything but 201/200/409/422 raises."""
    if answer.status in (200, 201):
        body = answer.body if isinstance(answer.body, dict) else {}
        report.outcome = "created" if answer.status == 201 else "replayed"
        report.scaffoldId, report.tenantId = body.get("scaffoldId"), body.get("tenantId")
        report.location = answer.headers.get("Location")
        return
    error = final_error(answer, what)
    if error.code != errors.CONFLICT:
        raise error
    report.outcome, report.problem = "conflict", answer.problem
    report.location = answer.headers.get("Location")
