"""A real API (`foundation serve` on a seeded SQLite file) for the ingestion tests, the `foundation metrics
ingest` command as a subprocess, and copies of the fixtures whose report times are moved to just now (the
scorecard window ends at the request time, so the committed reports would age out of it).

The server is shared by a module's tests; each test ingests for its own freshly created tenant, so no test
sees another's samples.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.client.scaffolding import api, repo, template_cache
from tests.observability.servers import Server, running_server, seeded_database, server_env

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"
CLI = [sys.executable, "-m", "foundation.cli.main"]
# The scaffolding tests' fixtures (tests/client/scaffolding.py), registered here so pytest finds them.
__all__ = ["api", "repo", "template_cache"]


@dataclass
class Site:
    server: Server
    database_url: str

    @property
    def url(self) -> str:
        return self.server.url

    def new_tenant(self) -> str:
        """A tenant of its own for one test (slug)."""
        from foundation.db import Database
        from foundation.tenancy.service import TenantDirectory

        slug = f"t-{uuid.uuid4().hex[:12]}"

        async def create() -> None:
            db = Database(self.database_url)
            try:
                await TenantDirectory(db).create(slug, f"Tenant {slug}")
            finally:
                await db.dispose()

        asyncio.run(create())
        return slug

    def get(self, path: str, tenant: str, token: str | None = None, **params: Any) -> Any:
        headers = {"X-Tenant-Id": tenant}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = httpx.get(f"{self.url}{path}", headers=headers, params=params, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def samples(self, tenant: str, token: str | None = None) -> list[dict[str, Any]]:
        return self.get(f"/api/v1/tenant-metrics/{tenant}/sc", tenant, token, page_size=100)["data"]  # type: ignore[no-any-return]

    def criterion(
        self, tenant: str, code: str, token: str | None = None, window: str = "P30D"
    ) -> dict[str, Any]:
        card = self.get(f"/api/v1/tenant-metrics/{tenant}/sc/summary", tenant, token, window=window)
        item: dict[str, Any] = next(item for item in card["criteria"] if item["code"] == code)
        if window == "P30D":  # the window /metrics reports: the same value and status there
            assert self.exposed(tenant, code) == (item["value"], item["status"]), item
        return item

    def exposed(self, tenant: str, code: str) -> tuple[float | None, str]:
        """The tenant's criterion as ``/metrics`` shows it: (foundation_sc_value, the status set to 1)."""
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        value, status = None, ""
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.labels.get("tenant") != tenant or sample.labels.get("code") != code:
                    continue
                if sample.name == "foundation_sc_value":
                    value = round(sample.value, 6)
                elif sample.name == "foundation_sc_status" and sample.value == 1:
                    status = sample.labels["status"]
        return value, status


def start_site(directory: Path, **env: str) -> Iterator[Site]:
    url = seeded_database(directory / "db")
    settings = server_env(
        url,
        directory,
        FOUNDATION_PROFILE="test",
        FOUNDATION_LOG_LEVEL="INFO",
        FOUNDATION_METRICS_SCORECARD_SECONDS="0",  # /metrics recomputes the scorecard on every scrape
        FOUNDATION_METRICS_CACHE_SECONDS="0",
        **env,
    )
    with running_server(settings, directory / "logs") as server:
        yield Site(server, url)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from start_site(tmp_path_factory.mktemp("ingest-site"))


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def ingest(
    *args: str | Path, api: str | None = None, env: dict[str, str] | None = None, in_subprocess: bool = False
) -> Run:
    """`foundation metrics ingest …`: in-process through typer's CliRunner (the same command object, exit
    status and streams), or as a real subprocess of the CLI with ``in_subprocess``."""
    arguments = ["metrics", "ingest", *(str(arg) for arg in args)]
    if api is not None:
        arguments += ["--api", api]
    if in_subprocess:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("FOUNDATION_", "OTEL_"))}
        environment.update(env or {})
        done = subprocess.run(
            [*CLI, *arguments], capture_output=True, text=True, timeout=120, check=False, env=environment
        )
        return Run(done.returncode, done.stdout, done.stderr)
    from typer.testing import CliRunner

    from foundation.cli.main import root

    isolated: dict[str, str | None] = {
        "FOUNDATION_TOKEN": None,
        "FOUNDATION_API_URL": None,
        "FOUNDATION_INGEST_RETRY_SECONDS": None,
        **(env or {}),
    }
    result = CliRunner().invoke(root, arguments, env=isolated)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout, result.stderr)


def error_line(result: Run) -> str:
    """The single `error: …` line of a failed run (and no traceback)."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# --- fixtures moved to "now" -------------------------------------------------------------------------------


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def recent(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def lighthouse_copy(name: str, target: Path, minutes_ago: float) -> Path:
    report = json.loads((FIXTURES / "lighthouse" / name).read_text())
    report["fetchTime"] = stamp(recent(minutes_ago))
    path = target / name
    path.write_text(json.dumps(report))
    return path


def axe_copy(name: str, target: Path) -> Path:
    results = json.loads((FIXTURES / "axe" / name).read_text())
    for index, result in enumerate(results if isinstance(results, list) else [results]):
        result["timestamp"] = stamp(recent(30 - index))
    path = target / name
    path.write_text(json.dumps(results))
    return path


def storybook_copy(name: str, target: Path, tenants: dict[str, str]) -> Path:
    """The index with its ``tenant:<slug>`` tags renamed to this test's tenants."""
    text = (FIXTURES / "storybook" / name).read_text()
    for old, new in tenants.items():
        text = text.replace(f"tenant:{old}", f"tenant:{new}")
    path = target / name
    path.write_text(text)
    return path


def junit_copy(name: str, target: Path, moment: datetime) -> Path:
    text = (FIXTURES / "pact" / name).read_text()
    text = re.sub(r'timestamp="[^"]+"', f'timestamp="{stamp(moment)}"', text)
    path = target / name
    path.write_text(text)
    return path


def shift_record_times(record: Any, delta: timedelta) -> Any:
    """Every ``timestamp`` string and ``*UnixNano`` integer of a JSON record moved by ``delta``."""
    if isinstance(record, dict):
        shifted = {}
        for key, value in record.items():
            if key in ("timestamp", "time") and isinstance(value, str):
                moment = datetime.fromisoformat(value.replace("Z", "+00:00")) + delta
                shifted[key] = stamp(moment)
            elif key.endswith("UnixNano") and isinstance(value, int) and value > 0:
                shifted[key] = value + int(delta.total_seconds() * 1e9)
            else:
                shifted[key] = shift_record_times(value, delta)
        return shifted
    if isinstance(record, list):
        return [shift_record_times(item, delta) for item in record]
    return record


def audit_copy(relative: str, target: Path, newest: datetime, *, tenant: str) -> Path:
    """A pii fixture (JSON lines, a JSON document, text lines kept) whose newest record is at ``newest``,
    with ``tenant-alfa`` renamed to ``tenant``."""
    source = FIXTURES / "pii" / relative
    text = source.read_text().replace('"tenant-alfa"', json.dumps(tenant))
    try:
        documents: list[Any] = [json.loads(text)]
        single = True
    except json.JSONDecodeError:
        documents = [json.loads(line) if line.startswith("{") else line for line in text.splitlines()]
        single = False
    times = [
        datetime.fromisoformat(m.replace("Z", "+00:00")) for m in re.findall(r'"timestamp": ?"([^"]+)"', text)
    ] + [datetime.fromtimestamp(int(n) / 1e9, UTC) for n in re.findall(r'"endTimeUnixNano":(\d+)', text)]
    delta = newest - max(times)
    shifted = [shift_record_times(doc, delta) if not isinstance(doc, str) else doc for doc in documents]
    path = target / relative.replace("/", "-")
    lines = [json.dumps(doc) if not isinstance(doc, str) else doc for doc in shifted]
    path.write_text(lines[0] if single else "\n".join(lines) + "\n")
    return path


# --- every kind with its committed reports -----------------------------------------------------------------

KINDS = ("storybook", "lighthouse", "axe", "pact", "pii-audit")


@dataclass(frozen=True)
class KindCase:
    """One kind's committed reports made current for a tenant, and what ingesting them must give."""

    args: list[str | Path]  # the kind, its files and the options it needs
    code: str
    value: float  # the criterion on the scorecard (and /metrics) after one ingestion
    samples: int
    stories: int = 0


def kind_case(kind: str, target: Path, tenant: str) -> KindCase:
    """The reports the single-kind tests of test_ingest_e2e.py ingest, with the same expected results."""
    if kind == "storybook":
        path = storybook_copy("index-v5.json", target, {"tenant-alfa": tenant})
        return KindCase(
            ["storybook", path, "--collected-at", stamp(recent(5))], "SC-002", 66.666667, 1, stories=5
        )
    if kind == "lighthouse":
        names = ("api-docs.report.json", "dashboard.report.json")
        files = [lighthouse_copy(name, target, 60 - i) for i, name in enumerate(names)]
        return KindCase(["lighthouse", *files], "SC-004", 89.285714, 2)
    if kind == "axe":
        return KindCase(["axe", axe_copy("pages.axe.json", target)], "SC-004", 87.5, 2)
    if kind == "pact":
        pacts = sorted((FIXTURES / "pact").glob("*.v[234].json"))
        junit = junit_copy("verification-foundation-api.junit.xml", target, recent(10))
        report = FIXTURES / "pact" / "verification-foundation-scorecard.json"
        return KindCase(["pact", *pacts, junit, report], "SC-003", 66.666667, 1)
    if kind == "pii-audit":
        newest = recent(2)
        files = [
            audit_copy(name, target, newest, tenant=tenant)
            for name in ("api.log.jsonl", "collector/spans.jsonl", "csp-reports.json")
        ]
        return KindCase(["pii-audit", *files], "SC-005", 5.0, 1)
    raise ValueError(kind)


def own_stories(site: Site, tenant: str, token: str | None = None) -> list[dict[str, Any]]:
    """The stories bound to ``tenant`` (the global ones left out)."""
    listed = site.get("/api/v1/design-system/stories", tenant, token, page_size=100)["data"]
    return [story for story in listed if story["tenantId"] is not None]
