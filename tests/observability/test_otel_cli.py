"""`foundation otel`: spans acknowledged by a real collector; failures are errors with exit 1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from typer.testing import CliRunner

from foundation.cli.otel import register
from foundation.client.spans import SPAN_NAME, send_bootstrap_spans
from foundation.ops.collector.server import RunningCollector, collector_in_thread
from foundation.ops.procs import free_port

pytestmark = pytest.mark.integration


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    root = typer.Typer()

    @root.callback()
    def main() -> None:
        """Group callback so `otel` is invoked by name, as in the real CLI."""

    register(root)
    result = CliRunner().invoke(root, ["otel", *args], env=env)
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningCollector]:
    with collector_in_thread(tmp_path / "collector") as running:
        yield running


@contextmanager
def fake_endpoint(
    status: int, body: bytes, content_type: str, delay: float = 0.0
) -> Iterator[dict[str, Any]]:
    """A stdlib HTTP server answering every POST the same way; records what it received."""
    seen: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen["path"] = self.path
            seen["authorization"] = self.headers.get("Authorization")
            seen["body"] = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    seen["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_spans_reach_the_embedded_collector(collector: RunningCollector) -> None:
    code, out = run_cli(
        "--endpoint", collector.url, "--tenant", "tenant-beta", "--feature", "sc-001",
        "--service", "bootstrap-test", "--resource", "deployment.environment=ci,team=core", "--count", "3",
    )  # fmt: skip
    assert code == 0
    assert out["endpoint"] == f"{collector.url}/v1/traces"
    assert out["exportedSpans"] == 3 and out["errors"] == []
    stats = httpx.get(f"{collector.url}/stats").json()
    assert stats["spans"] == 3 and stats["errors"] == 0
    assert stats["services"] == {"bootstrap-test": 3}
    lines = (collector.data_dir / "spans.jsonl").read_text().splitlines()
    spans = [json.loads(line) for line in lines]
    assert {span["traceId"] for span in spans} == set(out["traceIds"])
    for span in spans:
        assert len(span["traceId"]) == 32 and int(span["traceId"], 16)
        assert span["name"] == SPAN_NAME
        assert span["attributes"] == {"tenant": "tenant-beta", "feature": "sc-001"}
        assert span["resource"]["deployment.environment"] == "ci"
        assert span["resource"]["team"] == "core"
        assert span["resource"]["service.name"] == "bootstrap-test"


def test_full_url_is_used_as_is(collector: RunningCollector) -> None:
    code, out = run_cli("--endpoint", f"{collector.url}/v1/traces")
    assert code == 0 and out["endpoint"] == f"{collector.url}/v1/traces" and out["exportedSpans"] == 1


def test_endpoint_from_environment(collector: RunningCollector) -> None:
    code, out = run_cli(env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url + "/"})
    assert code == 0 and out["endpoint"] == f"{collector.url}/v1/traces"


def test_closed_port_fails() -> None:
    port = free_port()
    code, out = run_cli("--endpoint", f"http://127.0.0.1:{port}")
    assert code == 1
    assert out["exportedSpans"] == 0
    assert len(out["errors"]) == 1 and f"127.0.0.1:{port}" in out["errors"][0]


def test_server_error_fails() -> None:
    with fake_endpoint(500, b"collector exploded", "text/plain") as seen:
        code, out = run_cli("--endpoint", seen["url"], "--token", "s3cret")
    assert code == 1 and out["exportedSpans"] == 0
    assert out["errors"] == [f"HTTP 500 from {seen['url']}/v1/traces: collector exploded"]
    assert seen["authorization"] == "Bearer s3cret"
    request = ExportTraceServiceRequest()
    request.ParseFromString(seen["body"])
    assert request.resource_spans[0].scope_spans[0].spans[0].name == SPAN_NAME


def test_partial_rejection_is_subtracted() -> None:
    answer = ExportTraceServiceResponse(
        partial_success=ExportTracePartialSuccess(rejected_spans=1, error_message="span too old")
    ).SerializeToString()
    with fake_endpoint(200, answer, "application/x-protobuf") as seen:
        code, out = run_cli("--endpoint", seen["url"], "--count", "3", env={"FOUNDATION_TOKEN": "from-env"})
    assert code == 1
    assert out["exportedSpans"] == 2
    assert out["errors"] == ["endpoint rejected 1 of 3 spans: span too old"]
    assert seen["authorization"] == "Bearer from-env"


def test_timeout_is_an_error() -> None:
    with fake_endpoint(200, b"", "application/x-protobuf", delay=1.0) as seen:
        result = send_bootstrap_spans(seen["url"], timeout=0.2)
    assert result["exportedSpans"] == 0
    assert result["errors"] and "timeout" in result["errors"][0]


def test_invalid_resource_flag() -> None:
    root = typer.Typer()

    @root.callback()
    def main() -> None:
        """Group callback."""

    register(root)
    result = CliRunner().invoke(root, ["otel", "--resource", "novalue"])
    assert result.exit_code == 1
    assert "invalid resource attribute 'novalue'" in result.output
