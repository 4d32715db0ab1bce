"""Publish the run's throughput and p95 as OTLP/HTTP metrics. A failure is reported, never raised."""

from __future__ import annotations

from typing import Any

THROUGHPUT_METRIC = "foundation_api_throughput"
P95_METRIC = "foundation_api_latency_p95_ms"
SCENARIO = "smoke"


def publish_run_metrics(
    url: str,
    *,
    throughput: float,
    p95_ms: float,
    tenant: str,
    mode: str,
    run_id: str,
    timeout_seconds: float = 5.0,
) -> dict[str, Any]:
    """Return ``{"endpoint", "published", "error"}`` for the full ``/v1/metrics`` URL (see
    ``observability.otlp_env``); ``published`` is True only when acknowledged."""
    outcome: dict[str, Any] = {"endpoint": url, "published": False, "error": None}
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
        from opentelemetry.sdk.resources import Resource

        reader = InMemoryMetricReader()
        resource = Resource.create(
            {"service.name": "foundation-perf-smoke", "foundation.perf.run_id": run_id}
        )
        provider = MeterProvider(metric_readers=[reader], resource=resource)
        try:
            meter = provider.get_meter("foundation.perf")
            attributes = {"tenant": tenant, "mode": mode, "scenario": SCENARIO}
            meter.create_gauge(THROUGHPUT_METRIC, unit="{request}/s", description="Smoke throughput").set(
                throughput, attributes
            )
            meter.create_gauge(P95_METRIC, unit="ms", description="Smoke p95 latency").set(p95_ms, attributes)
            data = reader.get_metrics_data()
        finally:
            provider.shutdown()
        if data is None:
            outcome["error"] = "no metric data collected"
            return outcome
        exporter = OTLPMetricExporter(endpoint=url, timeout=timeout_seconds)
        try:
            result = exporter.export(data, timeout_millis=timeout_seconds * 1000)
        finally:
            exporter.shutdown()
        if result == MetricExportResult.SUCCESS:
            outcome["published"] = True
        else:
            outcome["error"] = f"export to {url} failed (endpoint unreachable or rejected the metrics)"
    except Exception as exc:  # a publication problem must never crash the smoke
        outcome["error"] = f"{type(exc).__name__}: {exc}"
    return outcome
