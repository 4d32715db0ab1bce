"""The scorecard section of the `foundation validate` report, through its real files: a real API (`foundation
serve` on a seeded SQLite file, samples posted through POST …/sc) scraped by a real Prometheus, the section
collected from both, and report.md / report.html written by the report writer `validate` uses.

Cheaper than the full `validate` run of test_stack_e2e.py (no perf smokes, no collector), and it can check
exact cells: five tenants, the first three by slug shown, the counts over all five.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from tests.observability.servers import running_server, seeded_database, server_env

from foundation.ops.procs import free_port
from foundation.ops.stack import config, procs, scorecards
from foundation.ops.stack.validate_report import write_reports
from foundation.ops.stack.verify import VerifyResult

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]

EXTRA = ("zz-one", "zz-two")  # after the three demo tenants by slug: not shown with a limit of 3
SAMPLES = {
    "tenant-alfa": {"SC-001": [30.0], "SC-002": [90.0], "SC-004": [99.0]},
    "tenant-beta": {"SC-005": [1.0]},
    "zz-one": {"SC-003": [100.0]},
}


@dataclass
class Site:
    api: str
    prometheus: str


def _create_tenants(database_url: str) -> None:
    from foundation.db import Database
    from foundation.tenancy.service import TenantDirectory

    async def create() -> None:
        db = Database(database_url)
        try:
            for slug in EXTRA:
                await TenantDirectory(db).create(slug, f"Tenant {slug}")
        finally:
            await db.dispose()

    asyncio.run(create())


def _post_samples(api: str) -> None:
    at = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for tenant, codes in SAMPLES.items():
        samples = [
            {"code": code, "value": value, "collectedAt": at, "source": "manual"}
            for code, values in codes.items()
            for value in values
        ]
        response = httpx.post(
            f"{api}/api/v1/tenant-metrics/{tenant}/sc",
            json={"samples": samples},
            headers={"X-Tenant-Id": tenant},
            timeout=10,
        )
        assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("scorecard-report")
    url = seeded_database(tmp / "db")
    _create_tenants(url)
    env = server_env(url, tmp, FOUNDATION_METRICS_SCORECARD_SECONDS="0")
    with running_server(env, tmp / "logs") as server:
        _post_samples(server.url)
        binary = config.find_prometheus()
        assert binary is not None
        target = f"127.0.0.1:{server.port}"
        cfg = config.write_prometheus_config(
            tmp / "prometheus.yml", config.prometheus_config(target, target, None, "1s")
        )
        port = free_port()
        cmd = [binary, f"--config.file={cfg}", f"--storage.tsdb.path={tmp / 'data'}"]
        proc = procs.start([*cmd, f"--web.listen-address=127.0.0.1:{port}"], tmp / "prometheus.log")
        try:
            yield Site(server.url, f"http://127.0.0.1:{port}")
        finally:
            procs.stop(proc.pid)
            proc.wait(timeout=10)


def _table(text: str, header: str) -> dict[str, list[str]]:
    """Rows of the Markdown table whose header line starts with ``header``, keyed by their first cell."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        rows[cells[0]] = cells[1:]
    return rows


def _report(tmp_path: Path, cards: scorecards.Scorecards) -> tuple[str, str]:
    observed = VerifyResult(tmp_path / "observability", tmp_path / "observability" / "report.md", [])
    md, page = write_reports(tmp_path, datetime.now(UTC), {}, [], [], [], observed, None, cards)
    return md.read_text(encoding="utf-8"), page.read_text(encoding="utf-8")


def test_report_lists_first_tenants_and_counts_every_tenant(site: Site, tmp_path: Path) -> None:
    cards = scorecards.collect(site.api, site.prometheus, tmp_path, limit=3, timeout=60)
    assert not cards.error and cards.named == 5
    md, page = _report(tmp_path, cards)

    rows = _table(md, "| tenant | SC-001")
    assert list(rows) == ["tenant-alfa", "tenant-beta", "tenant-default"]
    assert rows["tenant-alfa"] == [
        "30 min (≤ 60) met",
        "90 % (≥ 95) missed",
        "– (≥ 100) no_data",
        "99 % (≥ 98) met",
        "– (≤ 0) no_data",  # no sample in the quarter: no value (api.md §3)
    ]
    assert rows["tenant-beta"][4] == "1 incidents (≤ 0) missed"
    assert all(cell.endswith("no_data") for cell in rows["tenant-default"][:4])
    # Every cell is what the API answers for that tenant, read again independently.
    for slug, cells in rows.items():
        body = httpx.get(
            f"{site.api}/api/v1/tenant-metrics/{slug}/sc/summary", headers={"X-Tenant-Id": slug}
        ).json()
        assert cells == [scorecards.cell(item) for item in body["criteria"]], slug
    assert "The first 3 tenant(s) by slug of the 5" in md

    counts = _table(md, "| criterion | met")
    statuses = {
        code: dict(zip(scorecards.STATUSES, map(int, row), strict=True)) for code, row in counts.items()
    }
    assert {code: sum(row.values()) for code, row in statuses.items()} == dict.fromkeys(scorecards.CODES, 5)
    assert statuses["SC-001"] == {"met": 1, "missed": 0, "no_data": 4}
    assert statuses["SC-002"] == {"met": 0, "missed": 1, "no_data": 4}
    assert statuses["SC-003"] == {"met": 1, "missed": 0, "no_data": 4}  # zz-one, not shown but counted

    assert cards.chart == tmp_path / "scorecards.png" and cards.chart.read_bytes()[:4] == b"\x89PNG"
    assert "![success criteria per tenant](scorecards.png)" in md
    assert (tmp_path / "scorecards.json").is_file()
    assert "<h2>Success criteria per tenant</h2>" in page
    assert "<td>90 % (≥ 95) missed</td>" in page and "zz-one" not in page.split("<h2>Charts")[0]
    assert re.search(r'<img alt="Success criteria per tenant" src="data:image/png;base64,', page)


def test_prometheus_unreachable_is_said_and_the_report_still_written(site: Site, tmp_path: Path) -> None:
    cards = scorecards.collect(site.api, f"http://127.0.0.1:{free_port()}", tmp_path, timeout=1)
    assert cards.error.startswith("Prometheus:") and cards.tenants == [] and cards.chart is None
    md, page = _report(tmp_path, cards)
    assert "## Success criteria per tenant" in md and "Not available: Prometheus:" in md
    assert "Not available: Prometheus:" in page
