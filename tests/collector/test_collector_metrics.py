"""OTLP metrics stored as JSON lines and re-exposed in Prometheus text format at /metrics."""

from __future__ import annotations

import json

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from prometheus_client.parser import text_string_to_metric_families

from foundation.ops.collector.prometheus import label_name, metric_name
from foundation.ops.collector.server import RunningCollector


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.integration
def test_sdk_metrics_become_scrapeable(collector: RunningCollector) -> None:
    exporter = OTLPMetricExporter(endpoint=f"{collector.url}/v1/metrics", timeout=10)
    # A huge interval: the export is driven explicitly by shutdown(), not by time.
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        resource=Resource.create({"service.name": "perf-smoke"}), metric_readers=[reader]
    )
    meter = provider.get_meter("tests")
    labels = {"tenant": "tenant-alfa", "mode": "ci", "scenario": "smoke"}
    meter.create_gauge("foundation_api_throughput").set(42.5, labels)
    meter.create_counter("foundation.requests").add(3, {"route": "/api/v1/x"})
    histogram = meter.create_histogram("foundation.latency", unit="s")
    for value in (0.003, 0.2, 0.4):
        histogram.record(value, {"route": "/api/v1/x"})
    provider.shutdown()

    stats = httpx.get(f"{collector.url}/stats").json()
    assert stats["metrics"] == 3 and stats["errors"] == 0
    points = [json.loads(line) for line in (collector.data_dir / "metrics.jsonl").read_text().splitlines()]
    gauge = next(p for p in points if p["name"] == "foundation_api_throughput")
    assert gauge["type"] == "gauge" and gauge["value"] == 42.5 and gauge["attributes"] == labels

    response = httpx.get(f"{collector.url}/metrics")
    assert response.status_code == 200
    values = samples(response.text)
    gauge_labels = tuple(sorted({**labels, "service_name": "perf-smoke"}.items()))
    assert values[("foundation_api_throughput", gauge_labels)] == 42.5
    route = (("route", "/api/v1/x"), ("service_name", "perf-smoke"))
    assert values[("foundation_requests_total", route)] == 3
    assert values[("foundation_latency_count", route)] == 3
    assert values[("foundation_latency_sum", route)] == pytest.approx(0.603)
    assert values[("foundation_latency_bucket", (("le", "+Inf"), *route))] == 3
    assert values[("foundation_collector_receiver_accepted_metric_points_total", ())] == 3
    assert (
        'foundation_api_throughput{mode="ci",scenario="smoke",service_name="perf-smoke",tenant="tenant-alfa"}'
        in (response.text)
    )


@pytest.mark.integration
def test_latest_value_wins_and_delta_sums_accumulate(collector: RunningCollector) -> None:
    def push(value: float, temporality: int) -> None:
        document = {
            "resourceMetrics": [
                {
                    "scopeMetrics": [
                        {
                            "metrics": [
                                {"name": "g", "gauge": {"dataPoints": [{"asDouble": value}]}},
                                {
                                    "name": "d",
                                    "sum": {
                                        "aggregationTemporality": temporality,
                                        "isMonotonic": True,
                                        "dataPoints": [{"asInt": "2"}],
                                    },
                                },
                            ]
                        }
                    ]
                }
            ]
        }
        assert httpx.post(f"{collector.url}/v1/metrics", json=document).status_code == 200

    push(1.0, 1)
    push(5.0, 1)
    values = samples(httpx.get(f"{collector.url}/metrics").text)
    assert values[("g", ())] == 5.0
    assert values[("d_total", ())] == 4


def test_name_sanitising() -> None:
    assert metric_name("http.server.duration") == "http_server_duration"
    assert metric_name("9lives") == "_9lives"
    assert label_name("service.name") == "service_name"
    assert label_name("__meta") == "key__meta"
    assert label_name("1x") == "key_1x"
