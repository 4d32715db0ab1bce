"""`foundation metrics ingest` end to end: report files → the CLI (a subprocess) → a real API server → the
scorecard, for every kind; re-ingestion, malformed input and an unreachable API.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.client.conftest import (
    FIXTURES,
    KINDS,
    Site,
    audit_copy,
    axe_copy,
    error_line,
    ingest,
    junit_copy,
    kind_case,
    lighthouse_copy,
    own_stories,
    recent,
    stamp,
    storybook_copy,
)
from tests.observability.servers import free_port

pytestmark = pytest.mark.integration
LIGHTHOUSE = ("api-docs.report.json", "dashboard.report.json")
# Connection errors are retried for 30 s by default (test_ingest_retries.py): these tests are about the
# message once the CLI gives up.
NO_RETRIES = {"FOUNDATION_INGEST_RETRY_SECONDS": "0"}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_reaches_the_scorecard_and_metrics_and_reingesting_adds_nothing(
    site: Site, tmp_path: Path, kind: str
) -> None:
    """File → the CLI (a real process) → the API → GET …/sc/summary → /metrics, then the same command again:
    every sample is reported as already stored and nothing changes (stories included)."""
    tenant = site.new_tenant()
    case = kind_case(kind, tmp_path, tenant)
    first = ingest(*case.args, "--tenant", tenant, "--json", api=site.url, in_subprocess=True)
    assert first.returncode == 0, first.stderr
    written = json.loads(first.stdout)["written"]
    assert written["samples"] == {"accepted": case.samples, "duplicates": 0}
    assert written["stories"] == {"upserted": case.stories}
    item = site.criterion(tenant, case.code)  # also compares value and status with /metrics
    assert (item["value"], item["samples"]) == (case.value, case.samples)
    stored = sorted((s["code"], s["value"], s["collectedAt"]) for s in site.samples(tenant))
    stories = sorted(s["storyId"] for s in own_stories(site, tenant))
    assert len(stored) == case.samples and len(stories) == case.stories

    again = ingest(*case.args, "--tenant", tenant, "--json", api=site.url)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["written"]["samples"] == {"accepted": 0, "duplicates": case.samples}
    assert sorted((s["code"], s["value"], s["collectedAt"]) for s in site.samples(tenant)) == stored
    assert sorted(s["storyId"] for s in own_stories(site, tenant)) == stories
    assert site.criterion(tenant, case.code) == item


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_with_the_api_unreachable_fails_clearly_and_writes_nothing(
    site: Site, tmp_path: Path, kind: str
) -> None:
    tenant = site.new_tenant()
    case = kind_case(kind, tmp_path, tenant)
    closed = f"http://127.0.0.1:{free_port()}"
    result = ingest(*case.args, "--tenant", tenant, api=closed, env=NO_RETRIES)
    line = error_line(result)
    assert result.returncode == 1
    assert f"API unreachable at {closed}" in line and "nothing was written" in line, line
    assert site.samples(tenant) == [] and own_stories(site, tenant) == []
    assert site.criterion(tenant, case.code)["status"] == "no_data"


def test_lighthouse_one_sample_per_page_and_reingest_is_a_no_op(site: Site, tmp_path: Path) -> None:
    tenant = site.new_tenant()
    files = [lighthouse_copy(name, tmp_path, 60 - i) for i, name in enumerate(LIGHTHOUSE)]
    first = ingest(
        "lighthouse", *files, "--tenant", tenant, "--feature", "docs-pages", api=site.url, in_subprocess=True
    )
    assert first.returncode == 0, first.stderr
    assert "written: 2 new sample(s), 0 already stored" in first.stdout
    # api-docs: 11 of 14 WCAG audits pass (color-contrast, html-has-lang, target-size fail);
    # dashboard: 7 of 7.
    values = sorted((s["value"], s["source"], s["featureSlug"]) for s in site.samples(tenant))
    assert values == [(78.571429, "lighthouse", "docs-pages"), (100.0, "lighthouse", "docs-pages")]
    item = site.criterion(tenant, "SC-004")
    assert (item["value"], item["samples"], item["status"]) == (89.285714, 2, "missed")

    again = ingest(
        "lighthouse", *files, "--tenant", tenant, "--feature", "docs-pages", "--json", api=site.url
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["written"]["samples"] == {"accepted": 0, "duplicates": 2}
    assert len(site.samples(tenant)) == 2


def test_lighthouse_committed_fixture_keeps_its_fetch_time(site: Site) -> None:
    tenant = site.new_tenant()
    path = FIXTURES / "lighthouse" / "api-docs.report.json"
    result = ingest("lighthouse", path, "--tenant", tenant, api=site.url)
    assert result.returncode == 0, result.stderr
    fetch_time = json.loads(path.read_text())["fetchTime"]
    assert [s["collectedAt"] for s in site.samples(tenant)] == [fetch_time]


def test_axe_results_with_needs_review(site: Site, tmp_path: Path) -> None:
    tenant = site.new_tenant()
    path = axe_copy("pages.axe.json", tmp_path)
    result = ingest("axe", path, "--tenant", tenant, api=site.url)
    assert result.returncode == 0, result.stderr
    assert "needs review (axe incomplete, not counted): aria-prohibited-attr" in result.stderr + result.stdout
    # /docs: 12 WCAG rules pass, 4 fail (color-contrast, html-has-lang, nested-interactive, target-size);
    # the dashboard: 10 of 10.
    assert sorted(s["value"] for s in site.samples(tenant)) == [75.0, 100.0]
    assert {s["source"] for s in site.samples(tenant)} == {"ci"}
    item = site.criterion(tenant, "SC-004")
    assert (item["value"], item["samples"], item["status"]) == (87.5, 2, "missed")


@pytest.mark.parametrize(
    ("index", "active", "expected", "status", "stories"),
    [
        ("index-v5.json", "a", 66.666667, "missed", 5),
        ("index-v5.json", "a,b", 33.333333, "missed", 5),
        ("index-v4.json", "a", 100.0, "met", 2),
    ],
)
def test_storybook_coverage_and_stories(
    site: Site, tmp_path: Path, index: str, active: str, expected: float, status: str, stories: int
) -> None:
    tenant, other = site.new_tenant(), site.new_tenant()
    names = {"a": tenant, "b": other}
    path = storybook_copy(index, tmp_path, {"tenant-alfa": tenant, "tenant-beta": other})
    args = ["storybook", path, "--tenant", tenant, "--collected-at", stamp(recent(5)), "--build", "ci-4711"]
    args += ["--active-tenants", ",".join(names[key] for key in active.split(","))]
    args += ["--storybook-url", "https://storybook.iabank.local/"]
    result = ingest(*args, api=site.url)
    assert result.returncode == 0, result.stderr
    item = site.criterion(tenant, "SC-002")
    assert (item["value"], item["samples"], item["status"]) == (expected, 1, status)
    listed = site.get("/api/v1/design-system/stories", tenant, page_size=100)["data"]
    own = [story for story in listed if story["tenantId"] is not None]
    assert len(own) == stories
    button = next(story for story in own if story["storyId"] == "components-button--primary")
    assert button["componentId"] == "components-button"
    assert button["chromaticBuild"] == "ci-4711" and button["axeStatus"] == "warn"
    assert button["storybookUrl"] == "https://storybook.iabank.local/?path=/story/components-button--primary"
    assert button["coveragePercent"] == 100.0
    # The other tenant sees none of them; re-ingesting changes nothing.
    assert all(s["tenantId"] is None for s in site.get("/api/v1/design-system/stories", other)["data"])
    again = ingest(*args, "--json", api=site.url)
    assert json.loads(again.stdout)["written"] == {
        "samples": {"accepted": 0, "duplicates": 1},
        "stories": {"upserted": stories},
        "requests": [
            f"PUT /api/v1/design-system/stories ({stories} stories)",
            f"POST /api/v1/tenant-metrics/{tenant}/sc (1 samples)",
        ],
    }
    assert len(site.samples(tenant)) == 1
    assert (
        len([s for s in site.get("/api/v1/design-system/stories", tenant)["data"] if s["tenantId"]])
        == stories
    )


def test_storybook_critical_flag_by_title(site: Site, tmp_path: Path) -> None:
    tenant = site.new_tenant()
    path = storybook_copy("index-v4.json", tmp_path, {"tenant-alfa": tenant})
    result = ingest(
        "storybook", path, "--tenant", tenant, "--collected-at", stamp(recent(5)),
        "--critical", "Lending/LoanCard,forms-cpfinput", "--json", api=site.url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    details = json.loads(result.stdout)["details"]
    assert details["critical"] == ["components-button", "forms-cpfinput", "lending-loancard"]
    assert details["uncovered"] == {"forms-cpfinput": [tenant]}
    assert site.criterion(tenant, "SC-002")["value"] == 66.666667


def test_pact_files_and_both_verifier_formats(site: Site, tmp_path: Path) -> None:
    tenant = site.new_tenant()
    pacts = sorted((FIXTURES / "pact").glob("*.v[234].json"))
    junit = junit_copy("verification-foundation-api.junit.xml", tmp_path, recent(10))
    report = FIXTURES / "pact" / "verification-foundation-scorecard.json"
    result = ingest("pact", *pacts, junit, report, "--tenant", tenant, "--json", api=site.url)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    # 6 catalogued: 3 of foundation-api pass in JUnit (1 fails), 1 of foundation-scorecard passes in the JSON
    # report (the other is a failing pending interaction).
    assert (outcome["details"]["catalogued"], outcome["details"]["verified"]) == (6, 4)
    item = site.criterion(tenant, "SC-003")
    assert (item["value"], item["status"]) == (66.666667, "missed")

    # Only the JSON report: it carries no time, so --collected-at is required and used.
    only_json = ingest("pact", *pacts, report, "--tenant", tenant, api=site.url)
    assert "--collected-at" in error_line(only_json) and only_json.returncode == 2
    moment = recent(1)
    result = ingest("pact", *pacts, report, "--tenant", tenant, "--collected-at", stamp(moment), api=site.url)
    assert result.returncode == 0, result.stderr
    item = site.criterion(tenant, "SC-003")
    assert (item["value"], item["samples"], item["lastCollectedAt"]) == (16.666667, 2, stamp(moment))


def test_pii_audit_counts_incidents_of_the_tenant(site: Site, tmp_path: Path) -> None:
    tenant = site.new_tenant()
    newest = recent(2)
    files = [
        audit_copy("api.log.jsonl", tmp_path, newest, tenant=tenant),
        audit_copy("collector/spans.jsonl", tmp_path, newest, tenant=tenant),
        audit_copy("csp-reports.json", tmp_path, newest, tenant=tenant),
    ]
    result = ingest("pii-audit", *files, "--tenant", tenant, "--json", api=site.url)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    kinds = sorted((Path(f["file"]).name, f["line"], f["kind"]) for f in outcome["details"]["findings"])
    assert kinds == [
        ("api.log.jsonl", 3, "cpf"),
        ("api.log.jsonl", 4, "email"),
        ("api.log.jsonl", 4, "secret-field"),
        ("api.log.jsonl", 7, "cnpj"),
        ("collector-spans.jsonl", 2, "cpf-or-phone"),
        ("csp-reports.json", 1, "csp-violation"),
    ]
    assert outcome["details"]["skippedOtherTenants"] == 2  # tenant-beta's log line and span
    for secret in (
        "123.456.789-09",
        "maria.silva",
        "eyJhbGciOiJIUzI1NiJ9",
        "12345678909",
        "11.222.333/0001-81",
    ):
        assert secret not in result.stdout and secret not in result.stderr
    item = site.criterion(tenant, "SC-005")
    assert (item["value"], item["samples"], item["status"]) == (5.0, 1, "missed")
    assert item["lastCollectedAt"] == stamp(newest)
    assert ingest("pii-audit", *files, "--tenant", tenant, api=site.url).returncode == 0
    assert len(site.samples(tenant)) == 1


def test_clean_audit_of_real_collector_spans_and_server_logs_is_a_zero_sample(
    site: Site, tmp_path: Path
) -> None:
    from foundation.client.spans import send_bootstrap_spans
    from foundation.ops.collector.server import collector_in_thread

    tenant = site.new_tenant()
    site.get(f"/api/v1/tenant-metrics/{tenant}/sc", tenant)  # an access-log line of this tenant
    with collector_in_thread(tmp_path / "collector") as collector:
        # The span sender masks PII before export and the collector again before storing.
        sent = send_bootstrap_spans(collector.url, tenant=tenant, feature="cpf-123.456.789-09", count=3)
        assert sent["exportedSpans"] == 3, sent
    spans = tmp_path / "collector" / "spans.jsonl"
    logs = tmp_path / "server.log"
    shutil.copyfile(site.server.stdout, logs)
    result = ingest("pii-audit", spans, logs, "--tenant", tenant, "--json", api=site.url)
    assert result.returncode == 0, result.stderr
    details = json.loads(result.stdout)["details"]
    assert details["incidents"] == 0 and details["records"] >= 4
    item = site.criterion(tenant, "SC-005")
    assert (item["value"], item["samples"], item["status"]) == (0.0, 1, "met")


@pytest.mark.parametrize(
    ("kind", "content", "fragment"),
    [
        ("lighthouse", "{not json", "is not valid JSON (line 1"),
        (
            "lighthouse",
            '{"lighthouseVersion": "9.6.8", "fetchTime": "2026-01-01T00:00:00Z"}',
            "Lighthouse 10 or later",
        ),
        (
            "lighthouse",
            '{"lighthouseVersion": "1x.2", "fetchTime": "2026-01-01T00:00:00Z"}',
            "lighthouseVersion '1x.2' is not a version number",
        ),
        ("lighthouse", '{"lighthouseVersion": 12}', "is not a Lighthouse result (no lighthouseVersion)"),
        (
            "lighthouse",
            '{"lighthouseVersion": "12.8.2", "fetchTime": "2026-01-01T00:00:00Z", "runtimeError":'
            ' {"code": "NO_FCP", "message": "The page did not paint any content."}}',
            "the Lighthouse run failed (NO_FCP",
        ),
        (
            "axe",
            '{"timestamp": "2026-01-01T00:00:00Z", "url": "http://x/", "passes": []}',
            "has no 'violations' list",
        ),
        (
            "axe",
            '{"violations": [], "incomplete": [], "passes": [{"id": "x", "tags": ["wcag2a"]}], "url": "http://x/",'
            ' "timestamp": "yesterday"}',
            "timestamp is not an RFC 3339 date-time",
        ),
        ("storybook", '{"v": 3, "stories": {}}', "Storybook 6 stories.json (v3)"),
        ("storybook", '{"v": 9, "entries": {}}', "index version 9 is not supported"),
        ("pact", '{"hello": "world"}', "neither a pact file"),
        ("pact", "<testsuites><testsuite", "is not well-formed XML"),
        ("pii-audit", "\udcff", "is not UTF-8 text"),
        ("unknown-kind", "{}", "unknown kind"),
    ],
)
def test_malformed_input_is_one_error_line_exit_2_and_nothing_posted(
    site: Site, tmp_path: Path, kind: str, content: str, fragment: str
) -> None:
    tenant = site.new_tenant()
    good = lighthouse_copy(LIGHTHOUSE[1], tmp_path, 5)
    bad = tmp_path / "bad-report.json"
    bad.write_bytes(content.encode("utf-8", "surrogateescape"))
    files = [good, bad] if kind == "lighthouse" else [bad]  # a good file first: still nothing is posted
    extra = ["--collected-at", stamp(recent(1))] if kind == "storybook" else []
    result = ingest(kind, *files, "--tenant", tenant, *extra, api=site.url)
    line = error_line(result)
    assert result.returncode == 2
    assert fragment in line, line
    if kind != "unknown-kind":
        assert line.startswith(f"error: {bad}: "), line
    assert site.samples(tenant) == []


def test_missing_file_and_bad_options(site: Site, tmp_path: Path) -> None:
    missing = ingest(
        "axe", tmp_path / "nope.json", "--tenant", "tenant-alfa", api=site.url, in_subprocess=True
    )
    assert error_line(missing) == f"error: {tmp_path / 'nope.json'}: no such file" and missing.returncode == 2
    bad_tenant = ingest("axe", tmp_path / "x.json", "--tenant", "Not A Slug", api=site.url)
    assert "--tenant" in error_line(bad_tenant) and bad_tenant.returncode == 2
    refused = ingest("lighthouse", FIXTURES / "lighthouse" / LIGHTHOUSE[0], "--tenant", "tenant-alfa",
                     "--collected-at", "2026-01-01T00:00:00Z", api=site.url)  # fmt: skip
    assert "each page's time is its fetchTime" in error_line(refused) and refused.returncode == 2


def test_api_unreachable_is_a_clear_error_and_nothing_is_written(site: Site, tmp_path: Path) -> None:
    tenant = site.new_tenant()
    closed = f"http://127.0.0.1:{free_port()}"
    path = lighthouse_copy(LIGHTHOUSE[0], tmp_path, 5)
    result = ingest("lighthouse", path, "--tenant", tenant, api=closed, env=NO_RETRIES, in_subprocess=True)
    line = error_line(result)
    assert result.returncode == 1
    assert f"API unreachable at {closed}" in line and "nothing was written" in line
    dry = ingest("lighthouse", path, "--tenant", tenant, "--dry-run", api=closed)
    assert dry.returncode == 0 and dry.stdout.startswith("would post SC-004 = 78.5714")
    assert site.samples(tenant) == []


def test_unknown_tenant_is_refused_by_the_api(site: Site, tmp_path: Path) -> None:
    result = ingest(
        "lighthouse", lighthouse_copy(LIGHTHOUSE[0], tmp_path, 5), "--tenant", "no-such-tenant", api=site.url
    )
    line = error_line(result)
    assert result.returncode == 1
    assert "HTTP 404 tenant_not_found" in line and "nothing was written" in line


def test_more_than_500_pages_go_in_several_atomic_requests(site: Site, tmp_path: Path) -> None:
    tenant = site.new_tenant()
    start = recent(600)
    results = [
        {
            "timestamp": stamp(start + timedelta(seconds=i)),
            "url": f"http://127.0.0.1/page/{i}",
            "violations": [{"id": "color-contrast", "tags": ["wcag2aa"], "nodes": []}] if i % 2 else [],
            "incomplete": [],
            "passes": [{"id": "image-alt", "tags": ["wcag2a"], "nodes": []}],
        }
        for i in range(501)
    ]
    path = tmp_path / "many.axe.json"
    path.write_text(json.dumps(results))
    result = ingest("axe", path, "--tenant", tenant, "--json", api=site.url)
    assert result.returncode == 0, result.stderr
    written = json.loads(result.stdout)["written"]
    assert written["requests"] == [
        f"POST /api/v1/tenant-metrics/{tenant}/sc (500 samples)",
        f"POST /api/v1/tenant-metrics/{tenant}/sc (1 samples)",
    ]
    assert written["samples"] == {"accepted": 501, "duplicates": 0}
    item = site.criterion(tenant, "SC-004")
    # 251 pages at 100 %, 250 at 50 %.
    assert (item["samples"], item["value"]) == (501, round((251 * 100 + 250 * 50) / 501, 6))


@contextmanager
def api_that_dies_on(method: str, upstream: str) -> Iterator[str]:
    """A reverse proxy on 127.0.0.1 in front of the real API that forwards every request until the first one
    with ``method``, which it drops without an answer (as a server that went away), and refuses the rest."""
    gone = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            if gone.is_set() or self.command == method:
                gone.set()
                self.close_connection = True
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            answer = httpx.request(
                self.command, upstream + self.path, headers=headers, content=body, timeout=30
            )
            self.send_response(answer.status_code)
            for key, value in answer.headers.items():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_PUT = do_POST = _forward

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_api_gone_between_the_stories_and_the_sample_says_what_was_written_and_a_rerun_completes(
    site: Site, tmp_path: Path
) -> None:
    """storybook needs two writes; the API disappearing after the first (for good: retries would not help, so
    they are off here) is a clear error naming what was written, exit 1, and the same command once the API
    is back completes the job without duplicates."""
    tenant = site.new_tenant()
    path = storybook_copy("index-v5.json", tmp_path, {"tenant-alfa": tenant})
    args = ["storybook", path, "--tenant", tenant, "--collected-at", stamp(recent(3))]
    with api_that_dies_on("POST", site.url) as proxy:
        half = ingest(*args, api=proxy, env=NO_RETRIES)
    line = error_line(half)
    assert half.returncode == 1
    assert f"API unreachable at {proxy}" in line, line
    assert "written before the failure: PUT /api/v1/design-system/stories (5 stories)" in line, line
    assert site.samples(tenant) == [] and len(own_stories(site, tenant)) == 5
    again = ingest(*args, "--json", api=site.url)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["written"]["samples"] == {"accepted": 1, "duplicates": 0}
    assert len(site.samples(tenant)) == 1 and len(own_stories(site, tenant)) == 5
    assert site.criterion(tenant, "SC-002")["value"] == 66.666667
