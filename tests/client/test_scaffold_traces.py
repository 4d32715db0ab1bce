"""With OTEL_EXPORTER_OTLP_ENDPOINT set, each step of `scaffold new` is a span of one trace, and the API's
server span of the registration continues that trace under the register step (its traceparent)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from foundation.ops.collector.server import RunningCollector, collector_in_thread
from tests.client.scaffolding import Api, make_repo, scaffold
from tests.observability.servers import free_port, seeded_database, wait_for_spans

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, RunningCollector]]:
    root = tmp_path_factory.mktemp("traced")
    with collector_in_thread(root / "collector") as collector:
        api = Api(
            seeded_database(root / "db"),
            root / "var",
            root / "logs",
            free_port(),
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "200"},
        )
        api.start()
        try:
            yield api, collector
        finally:
            api.stop()


def test_steps_are_spans_and_the_post_carries_traceparent(
    traced: tuple[Api, RunningCollector], tmp_path: Path
) -> None:
    api, collector = traced
    repo = make_repo(tmp_path / "web")
    run = scaffold(
        "new",
        "traced-feature",
        "--tenant",
        "tenant-alfa",
        "--root",
        str(repo),
        "--json",
        api_url=api.url,
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
        OTEL_SERVICE_NAME="scaffold-test",
    )
    assert run.exit_code == 0, run.stderr
    trace_id = run.json()["traceId"]

    def complete(spans: list[dict[str, Any]]) -> bool:
        names = {span["name"] for span in spans if span["traceId"] == trace_id}
        return "scaffold.register" in names and any(
            s["traceId"] == trace_id and s["kind"] == "SPAN_KIND_SERVER" for s in spans
        )

    spans = [
        s for s in wait_for_spans(collector.url, collector.data_dir, complete) if s["traceId"] == trace_id
    ]
    by_name = {span["name"]: span for span in spans if span["kind"] != "SPAN_KIND_SERVER"}
    root = by_name["foundation scaffold new"]
    for step in ("template", "lint", "commit", "register"):
        assert by_name[f"scaffold.{step}"]["parentSpanId"] == root["spanId"], step
    [server] = [s for s in spans if s["kind"] == "SPAN_KIND_SERVER" and s["name"].startswith("POST")]
    assert server["parentSpanId"] == by_name["scaffold.register"]["spanId"]
    assert root["attributes"]["scaffold.outcome"] == "created"


def test_an_unreachable_collector_does_not_fail_the_command(
    traced: tuple[Api, RunningCollector], tmp_path: Path
) -> None:
    api, _collector = traced
    repo = make_repo(tmp_path / "web")
    started = time.monotonic()
    run = scaffold(
        "new",
        "untraced-feature",
        "--tenant",
        "tenant-alfa",
        "--root",
        str(repo),
        api_url=api.url,
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}",
    )
    assert run.exit_code == 0, run.stderr
    assert time.monotonic() - started < 60
