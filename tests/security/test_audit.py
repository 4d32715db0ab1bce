"""Dependency audit: the real pip-audit against a fixture lock, answered by a local OSV-compatible service
(the check's --osv-url, as for an internal mirror), with the allowlist's expiry rules; an unreachable service
is a skip, never a pass."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from foundation.ops.procs import free_port
from tests.security.conftest import run_check

VULN = {
    "id": "GHSA-x84v-xcm2-53pg",
    "aliases": ["CVE-2018-18074"],
    "summary": "Requests sends the Authorization header to an http URI upon a redirect",
    "affected": [
        {
            "package": {"name": "requests", "ecosystem": "PyPI"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.20.0"}]}],
        }
    ],
}
LOCK = ("requests==2.19.0 \\\n    --hash=sha256:{a}\nidna==3.10 \\\n    --hash=sha256:{b}\n").format(
    a="1" * 64, b="2" * 64
)


class Osv(BaseHTTPRequestHandler):
    queries: list[dict] = []

    def do_POST(self) -> None:
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Osv.queries.append(query)
        hit = query["package"]["name"] == "requests" and query["version"] == "2.19.0"
        send_json(self, {"vulns": [VULN]} if hit else {})

    def log_message(self, *args: object) -> None:
        pass


def send_json(handler: BaseHTTPRequestHandler, document: object) -> None:
    body = json.dumps(document).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """A local HTTP service on a free port of 127.0.0.1, stopped on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def osv_url() -> Iterator[str]:
    with serving(Osv) as port:
        yield f"http://127.0.0.1:{port}/v1/query"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "requirements").mkdir(parents=True)
    (root / "requirements" / "runtime.txt").write_text(LOCK)
    return root


def allow(root: Path, expires: date) -> None:
    (root / "security").mkdir(exist_ok=True)
    (root / "security" / "audit-allowlist.yml").write_text(
        "allow:\n  - id: CVE-2018-18074\n    package: requests\n"
        f"    reason: only used against our own https API\n    expires: {expires.isoformat()}\n"
    )


def test_a_vulnerable_pinned_package_fails(project: Path, osv_url: str, tmp_path: Path) -> None:
    verdict = run_check("dependency-audit", project, tmp_path / "evidence", osv_url=osv_url)
    assert verdict.status == "fail", verdict.summary
    assert "2 locked packages audited" in verdict.summary
    assert "requests 2.19.0 CVE-2018-18074" in verdict.summary  # pip-audit reports the CVE alias
    assert {q["package"]["name"] for q in Osv.queries} >= {"requests", "idna"}
    summary = json.loads((tmp_path / "evidence" / "audit-summary.json").read_text())
    assert summary["vulnerable"][0]["fixVersions"] == ["2.20.0"]


def test_an_allowlisted_vulnerability_passes_until_its_entry_expires(
    project: Path, osv_url: str, tmp_path: Path
) -> None:
    allow(project, date.today() + timedelta(days=30))
    verdict = run_check("dependency-audit", project, tmp_path / "current", osv_url=osv_url)
    assert verdict.status == "pass", verdict.summary
    assert "1 allowed by the allowlist" in verdict.summary
    allow(project, date.today() - timedelta(days=1))
    verdict = run_check("dependency-audit", project, tmp_path / "expired", osv_url=osv_url)
    assert verdict.status == "fail"
    assert "CVE-2018-18074 (requests) expired on" in verdict.summary


def test_an_unreachable_service_is_skipped_never_passed(project: Path, tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1/query"
    no_index = f"http://127.0.0.1:{free_port()}/pypi"  # the PyPI fallback is unreachable too
    options = {"osv_url": closed, "pypi_json_url": no_index}
    verdict = run_check("dependency-audit", project, tmp_path / "evidence", **options)
    assert verdict.status == "skipped"
    assert verdict.reason and "unreachable" in verdict.reason
    assert "the fallback" in verdict.reason and "unreachable too" in verdict.reason
    allow(project, date.today() - timedelta(days=1))  # an expired entry fails even then
    verdict = run_check("dependency-audit", project, tmp_path / "expired", **options)
    assert verdict.status == "fail"


class PyPIJson(BaseHTTPRequestHandler):
    """PyPI's project JSON: ``info.version`` is the latest release, ``vulnerabilities`` are that release's."""

    latest = {"requests": "2.19.0", "idna": "3.10"}
    withdrawn = False

    def do_GET(self) -> None:
        name = self.path.rstrip("/").split("/")[-2]
        if name not in self.latest:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        vulns = []
        if name == "requests" and self.latest[name] == "2.19.0":
            vulns = [
                {
                    "id": "GHSA-x84v-xcm2-53pg",
                    "aliases": ["CVE-2018-18074"],
                    "summary": VULN["summary"],
                    "fixed_in": ["2.20.0"],
                    "withdrawn": "2018-11-01T00:00:00Z" if PyPIJson.withdrawn else None,
                }
            ]
        send_json(self, {"info": {"version": self.latest[name]}, "vulnerabilities": vulns})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def pypi_json() -> Iterator[str]:
    with serving(PyPIJson) as port:
        yield f"http://127.0.0.1:{port}/pypi"
    PyPIJson.latest = {"requests": "2.19.0", "idna": "3.10"}
    PyPIJson.withdrawn = False


def test_without_osv_a_vulnerable_latest_release_found_on_pypi_fails(
    project: Path, pypi_json: str, tmp_path: Path
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1/query"
    verdict = run_check(
        "dependency-audit", project, tmp_path / "evidence", osv_url=closed, pypi_json_url=pypi_json
    )
    assert verdict.status == "fail", verdict.summary
    assert "requests 2.19.0 GHSA-x84v-xcm2-53pg" in verdict.summary
    summary = json.loads((tmp_path / "evidence" / "audit-summary.json").read_text())
    assert summary["osvUnreachable"] and summary["vulnerable"][0]["fixVersions"] == ["2.20.0"]
    assert (tmp_path / "evidence" / "pypi-latest.json").is_file()
    allow(project, date.today() + timedelta(days=30))  # the allowlist applies to the fallback's findings
    verdict = run_check(
        "dependency-audit", project, tmp_path / "allowed", osv_url=closed, pypi_json_url=pypi_json
    )
    assert verdict.status == "pass", verdict.summary
    assert "2 locked packages audited" in verdict.summary and "project JSON" in verdict.summary


def test_without_osv_packages_below_their_latest_release_leave_the_audit_skipped(
    project: Path, pypi_json: str, tmp_path: Path
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1/query"
    PyPIJson.latest = {"requests": "2.32.0", "idna": "3.10"}  # requests is pinned below its latest release
    verdict = run_check(
        "dependency-audit", project, tmp_path / "evidence", osv_url=closed, pypi_json_url=pypi_json
    )
    assert verdict.status == "skipped", verdict.summary
    assert verdict.reason is not None
    assert (
        "1 locked packages audited" in verdict.reason and "1 not audited (requests 2.19.0)" in verdict.reason
    )
    assert "latest release" in verdict.reason and "unreachable" in verdict.reason
    PyPIJson.latest = {"requests": "2.19.0", "idna": "3.10"}
    PyPIJson.withdrawn = True  # a withdrawn advisory is not a vulnerability
    verdict = run_check(
        "dependency-audit", project, tmp_path / "withdrawn", osv_url=closed, pypi_json_url=pypi_json
    )
    assert verdict.status == "pass", verdict.summary
