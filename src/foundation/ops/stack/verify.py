"""`foundation observe verify`: the phase-7 acceptance checks against a running stack, with evidence files."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from foundation.ops.dashboards import panels as dashboards
from foundation.ops.dashboards.panels import FIVE_XX_PERCENT, HTTP_BY_METHOD, HTTP_P95, SC001_MEAN_BY_FEATURE
from foundation.ops.dashboards.prom import Prometheus, PrometheusError, instant_values
from foundation.ops.procs import WaitTimeout, wait_until
from foundation.ops.stack.config import cli_command
from foundation.ops.stack.report import Criterion, check, markdown_table, new_run_dir, write_json

TENANT_ID = "00000000-0000-0000-0000-000000000001"  # tenant-alfa (seeded demo tenant)
TENANT_SLUG = "tenant-alfa"
SPAN_NAME = "FOUNDATION-TENANT-BOOTSTRAP"


@dataclass
class VerifyOptions:
    prometheus: str
    collector: str
    api: str
    output_dir: Path = Path("artifacts/observability")
    token: str | None = None
    timeout: float = 45.0  # per polled criterion (a few scrape intervals + rule evaluation)
    label: str = "verify"


@dataclass
class VerifyResult:
    run_dir: Path
    report: Path
    criteria: list[Criterion]
    panels: list[Path] = field(default_factory=list)  # the observability dashboard's PNGs
    sc_panels: list[Path] = field(default_factory=list)  # the success-criteria dashboard's PNGs

    @property
    def passed(self) -> bool:
        return all(item.passed for item in self.criteria)


def _poll(fn: Callable[[], Any], timeout: float) -> Any:
    """``fn()``'s first truthy answer within ``timeout``, else None (the check that follows records the
    evidence either way); Prometheus and HTTP errors count as no answer yet."""
    try:
        return wait_until(
            fn, timeout, 0.5, what="a verify criterion", ignore=(PrometheusError, httpx.HTTPError)
        )
    except WaitTimeout:
        return None


def _json_output(stdout: str) -> dict[str, Any] | None:
    """The JSON object a CLI printed (pretty-printed or on its last line)."""
    text = stdout.strip()
    for candidate in (text, text[text.find("{") :] if "{" in text else "", *reversed(text.splitlines())):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


class Verifier:
    def __init__(self, options: VerifyOptions, echo: Callable[[str], None]) -> None:
        self.o = options
        self.echo = echo
        self.run_dir = new_run_dir(options.output_dir, options.label)
        self.prom = Prometheus(options.prometheus)
        headers = {"Authorization": f"Bearer {options.token}"} if options.token else {}
        self.api = httpx.Client(base_url=options.api.rstrip("/"), timeout=15.0, headers=headers)
        self.criteria: list[Criterion] = []
        self.started = time.time()

    def path(self, name: str) -> Path:
        return self.run_dir / name

    def save(self, name: str, document: Any) -> str:
        write_json(self.path(name), document)
        return str(self.path(name))

    def add(self, item: Criterion) -> None:
        self.criteria.append(item)
        self.echo(f"{item.status} {item.id} {item.criterion}: {item.evidence}")

    def query(self, name: str, expr: str) -> tuple[dict[str, Any] | None, str]:
        try:
            body = self.prom.query(expr)
        except PrometheusError as exc:
            body = {"status": "error", "error": str(exc)}
        body = {"query": expr, **body}
        return body, self.save(name, body)

    # -- criteria -----------------------------------------------------------------------------------------
    def targets(self) -> None:
        try:
            body = self.prom.targets()
        except PrometheusError as exc:
            self.add(check("P7.1", "Prometheus targets up", False, str(exc)))
            return
        file = self.save("targets.json", body)
        active = body.get("data", {}).get("activeTargets", [])
        summary = ", ".join(f"{t['labels'].get('job')}={t.get('health')}" for t in active)
        ok = bool(active) and all(t.get("health") == "up" for t in active)
        self.add(check("P7.1", "Prometheus targets up", ok, f"{len(active)} target(s): {summary}", [file]))

    def traffic(self) -> None:
        codes: list[dict[str, Any]] = []
        hdr = {"X-Tenant-Id": TENANT_ID}
        requests: list[tuple[str, dict[str, str]]] = [("/health", {}), ("/health/ready", {})] * 3
        requests += [(f"/api/v1/tenants/{TENANT_ID}/themes/current", hdr)] * 3
        requests += [("/api/v1/design-system/stories", hdr)] * 2
        for path, headers in requests:
            status: int | str
            try:
                status = self.api.get(path, headers=headers).status_code
            except httpx.HTTPError as exc:
                status = f"error: {exc}"
            codes.append({"path": path, "status": status})
        self.save("traffic.json", codes)

    def register_scaffold(self) -> tuple[str, float, bool, str]:
        slug = f"verify-{self.run_dir.name.lower()}"[:64].strip("-")
        duration_ms = 7 * 60_000 + 30_000  # 7.5 minutes
        body = {
            "featureSlug": slug,
            "initiatedBy": str(uuid.uuid4()),
            "slices": [
                {
                    "slice": "features",
                    "files": [
                        {
                            "path": f"src/features/{slug}/index.ts",
                            "checksum": hashlib.sha256(slug.encode()).hexdigest(),
                        }
                    ],
                }
            ],
            "lintCommitHash": hashlib.sha1(slug.encode(), usedforsecurity=False).hexdigest(),
            "scReferences": ["@SC-001"],
            "durationMs": duration_ms,
            "metadata": {"source": "foundation observe verify"},
        }
        headers = {"X-Tenant-Id": TENANT_ID, "Idempotency-Key": f"verify-{uuid.uuid4()}"}
        try:
            response = self.api.post(
                f"/api/v1/tenants/{TENANT_ID}/features/scaffold", json=body, headers=headers
            )
            answer: Any = response.json() if response.content else None
            status = response.status_code
        except (httpx.HTTPError, ValueError) as exc:
            answer, status = {"error": str(exc)}, 0
        file = self.save(
            "scaffold-registration.json", {"request": body, "status": status, "response": answer}
        )
        return slug, duration_ms / 60_000, status == 201, file

    def http_series(self) -> None:
        def present() -> bool:
            return bool(instant_values(self.prom.query(HTTP_BY_METHOD)))

        _poll(present, self.o.timeout)
        body, file = self.query("query-http-by-method.json", HTTP_BY_METHOD)
        values = instant_values(body) if body and body.get("status") == "success" else []
        methods = ", ".join(f"{labels.get('method')}={value:.3g}" for labels, value in values)
        self.add(
            check(
                "P7.2", "HTTP requests by method series present", bool(values), methods or "no series", [file]
            )
        )

    def p95(self) -> None:
        def finite() -> bool:
            return any(math.isfinite(v) for _, v in instant_values(self.prom.query(HTTP_P95)))

        _poll(finite, self.o.timeout)
        body, file = self.query("query-http-latency-p95.json", HTTP_P95)
        values = [v for _, v in instant_values(body)] if body and body.get("status") == "success" else []
        ok = any(math.isfinite(v) for v in values)
        evidence = f"p95 = {values[0] * 1000:.1f} ms" if ok else "no finite p95 sample"
        self.add(check("P7.3", "HTTP latency p95 series present", ok, evidence, [file]))

    def five_xx(self) -> None:
        body, file = self.query("query-http-5xx-percent.json", FIVE_XX_PERCENT)
        values = [v for _, v in instant_values(body)] if body and body.get("status") == "success" else []
        ok = len(values) == 1 and values[0] == 0
        evidence = f"5xx = {values[0]:g}%" if values else "no sample (the panel would say 'No data')"
        self.add(check("P7.4", "5xx query answers 0", ok, evidence, [file]))

    def sc001(
        self, slug: str, minutes: float, created: bool, registration_file: str, registered_at: float
    ) -> None:
        if not created:
            self.add(
                check(
                    "P7.5",
                    "SC-001 visible right after a registration",
                    False,
                    "scaffold registration did not answer 201",
                    [registration_file],
                )
            )
            return

        def visible() -> list[tuple[dict[str, str], float]]:
            return [
                (lab, v)
                for lab, v in instant_values(self.prom.query(SC001_MEAN_BY_FEATURE))
                if lab.get("feature_slug") == slug
            ]

        found = _poll(visible, self.o.timeout)
        seconds = time.time() - registered_at
        _, file = self.query("query-sc-001-mean-minutes.json", SC001_MEAN_BY_FEATURE)
        value = found[0][1] if found else None
        ok = bool(found) and value is not None and abs(value - minutes) < 1e-6
        evidence = (
            f"feature {slug}: mean {value:g} min (expected {minutes:g}), "
            f"visible {seconds:.1f}s after the 201, no rate()"
            if found
            else f"feature {slug} not visible after {seconds:.0f}s"
        )
        self.add(
            check(
                "P7.5", "SC-001 visible right after a registration", ok, evidence, [registration_file, file]
            )
        )

    def collector_stats(self) -> dict[str, Any]:
        response = httpx.get(self.o.collector.rstrip("/") + "/stats", timeout=5.0)
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats

    def spans(self, slug: str) -> None:
        try:
            before = self.collector_stats()
        except (httpx.HTTPError, ValueError) as exc:
            self.add(
                check("P7.6", "Spans reach the collector without errors", False, f"collector /stats: {exc}")
            )
            return
        cmd = cli_command(
            "otel",
            "--endpoint",
            self.o.collector,
            "--tenant",
            TENANT_SLUG,
            "--feature",
            slug,
        )
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        cli = _json_output(proc.stdout) or {"stdout": proc.stdout, "stderr": proc.stderr[-2000:]}
        cli_file = self.save(
            "otel-cli.json", {"command": cmd[3:], "exitCode": proc.returncode, "output": cli}
        )
        exported = int(cli.get("exportedSpans") or 0)

        def received() -> dict[str, Any] | None:
            after = self.collector_stats()
            return after if after.get("spans", 0) >= before.get("spans", 0) + max(exported, 1) else None

        after = _poll(received, self.o.timeout) or self.collector_stats()
        stats_file = self.save("collector-stats.json", {"before": before, "after": after})
        sample_file = self._sample_spans(after)
        delta = after.get("spans", 0) - before.get("spans", 0)
        new_errors = after.get("errors", 0) - before.get("errors", 0)
        ok = (
            proc.returncode == 0
            and exported >= 1
            and not cli.get("errors")
            and delta >= exported
            and new_errors == 0
        )
        evidence = (
            f"otel CLI exit {proc.returncode}, exportedSpans={exported}, errors={cli.get('errors')}; "
            f"collector spans +{delta}, errors +{new_errors}"
        )
        files = [cli_file, stats_file] + ([sample_file] if sample_file else [])
        self.add(check("P7.6", "Spans reach the collector without errors", ok, evidence, files))

    def _sample_spans(self, stats: dict[str, Any]) -> str | None:
        data_dir = stats.get("dataDir")
        if not data_dir:
            return None
        files = sorted(Path(data_dir).glob("spans*.jsonl*"), key=lambda p: p.stat().st_mtime)
        if not files:
            return None
        lines = files[-1].read_text(encoding="utf-8", errors="replace").splitlines()
        bootstrap = [line for line in lines if SPAN_NAME in line][-5:]
        sample = bootstrap + [line for line in lines[-15:] if line not in bootstrap]
        path = self.path("sample-spans.jsonl")
        path.write_text("\n".join(sample) + "\n", encoding="utf-8")
        return str(path)

    def tenant_metrics(self, slug: str) -> None:
        url = f"/api/v1/tenant-metrics/{TENANT_ID}/sc"
        try:
            response = self.api.get(
                url, params={"page": 1, "page_size": 10}, headers={"X-Tenant-Id": TENANT_ID}
            )
            body: Any = response.json()
            status = response.status_code
        except (httpx.HTTPError, ValueError) as exc:
            body, status = {"error": str(exc)}, 0
        file = self.save(
            "tenant-metrics.json", {"request": url, "xTenantId": TENANT_ID, "status": status, "body": body}
        )
        pagination = body.get("pagination", {}) if isinstance(body, dict) else {}
        keys = {"page", "perPage", "totalItems", "totalPages"}
        ok = status == 200 and isinstance(body.get("data"), list) and keys <= set(pagination)
        mine = (
            [d for d in body.get("data", []) if isinstance(d, dict) and d.get("featureSlug") == slug]
            if ok
            else []
        )
        items = len(body.get("data") or []) if isinstance(body, dict) else 0
        evidence = (
            f"HTTP {status}, X-Tenant-Id = path ({TENANT_ID}), pagination {pagination}, "
            f"{items} item(s); registered sample listed: {bool(mine)}"
        )
        self.add(check("P7.7", "Tenant metrics answer 200 with pagination", ok, evidence, [file]))

    def dashboard_queries(self) -> None:
        for panel in dashboards.PANELS + dashboards.SC_PANELS:
            for target in panel.targets:
                self.query(f"panel-{panel.id}-{panel.slug}-{target.ref_id}.json", target.expr)

    def run(self) -> VerifyResult:
        self.targets()
        self.traffic()
        registered_at = time.time()
        slug, minutes, created, reg_file = self.register_scaffold()
        self.http_series()
        self.p95()
        self.five_xx()
        self.sc001(slug, minutes, created, reg_file, registered_at)
        self.spans(slug)
        self.tenant_metrics(slug)
        self.dashboard_queries()
        panels, sc_panels = (self.render(board) for board in dashboards.DASHBOARDS)
        report = self.write_report(panels, sc_panels)
        self.prom.close()
        self.api.close()
        return VerifyResult(self.run_dir, report, self.criteria, panels=panels, sc_panels=sc_panels)

    def render(self, board: dashboards.Dashboard) -> list[Path]:
        """``board``'s panels as PNGs under ``panels/`` (a failure is a warning: the criteria stand)."""
        from foundation.ops.dashboards.png import render_dashboard_png

        try:
            out = self.run_dir / "panels"
            return render_dashboard_png(self.o.prometheus, board, out, self.started - 900, time.time())
        except Exception as exc:
            self.echo(f"warning: rendering the {board.title!r} panels failed: {exc}")
            return []

    def write_report(self, panels: list[Path], sc_panels: list[Path]) -> Path:
        passed = sum(item.passed for item in self.criteria)
        verdict = "PASS" if passed == len(self.criteria) else "FAIL"
        lines = [
            "# Observability verification",
            "",
            f"- Run: `{self.run_dir.name}`",
            f"- Prometheus: {self.o.prometheus} · collector: {self.o.collector} · API: {self.o.api}",
            f"- Result: **{verdict}** ({passed}/{len(self.criteria)} criteria)",
            "",
            markdown_table(self.criteria, self.run_dir),
        ]
        for title, paths in (
            (dashboards.DASHBOARD_TITLE, panels),
            (dashboards.SC_DASHBOARD_TITLE, sc_panels),
        ):
            lines += [f"## Dashboard panels: {title}", ""]
            lines += [f"![{p.stem}]({p.relative_to(self.run_dir)})" for p in paths] + [""]
        write_json(self.path("criteria.json"), [c.__dict__ for c in self.criteria])
        report = self.path("report.md")
        report.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return report


def verify(options: VerifyOptions, echo: Callable[[str], None] = print) -> VerifyResult:
    return Verifier(options, echo).run()
