"""Re-expose received OTLP metrics in Prometheus text format (what the real collector's prometheus exporter
does), so a metric pushed over OTLP — e.g. ``foundation_api_throughput`` from the perf smoke — is scrapeable.

Latest value per (name, labels) series; delta sums/histograms are accumulated into cumulative ones.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

_NAME_INVALID = re.compile(r"[^a-zA-Z0-9_:]")
_LABEL_INVALID = re.compile(r"[^a-zA-Z0-9_]")

LabelKey = tuple[tuple[str, str], ...]


def metric_name(name: str) -> str:
    sanitized = _NAME_INVALID.sub("_", name) or "_"
    return f"_{sanitized}" if sanitized[0].isdigit() else sanitized


def label_name(name: str) -> str:
    sanitized = _LABEL_INVALID.sub("_", name) or "_"
    if sanitized[0].isdigit():
        sanitized = f"key_{sanitized}"
    if sanitized.startswith("__"):
        sanitized = f"key{sanitized}"
    return sanitized


def _label_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def series_labels(attributes: Mapping[str, Any], resource: Mapping[str, Any]) -> LabelKey:
    labels = {label_name(key): _label_value(value) for key, value in attributes.items()}
    service = resource.get("service.name")
    if service is not None:
        labels.setdefault("service_name", _label_value(service))
    return tuple(sorted(labels.items()))


@dataclass
class _Family:
    kind: str  # gauge | counter | histogram | summary
    documentation: str
    series: dict[LabelKey, Any] = field(default_factory=dict)


class OtlpMetricStore:
    """Thread-safe latest-value store fed with decoded OTLP points (``decode.iter_metric_points``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._families: dict[str, _Family] = {}

    def _family(self, name: str, kind: str, documentation: str) -> _Family | None:
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = _Family(kind, documentation or name)
        # A name reused with another type would make the exposition invalid: keep the first one.
        return family if family.kind == kind else None

    def update(self, points: Iterable[Mapping[str, Any]]) -> None:
        with self._lock:
            for point in points:
                self._update_one(point)

    def _update_one(self, point: Mapping[str, Any]) -> None:
        name = metric_name(point["name"])
        labels = series_labels(point.get("attributes", {}), point.get("resource", {}))
        doc = point.get("description", "")
        delta = point.get("temporality") == "delta"
        kind = point["type"]
        if kind in ("gauge", "sum"):
            value = point.get("value")
            if value is None:
                return
            if kind == "sum" and point.get("isMonotonic"):
                family = self._family(name.removesuffix("_total"), "counter", doc)
                if family is not None:
                    previous = family.series.get(labels, 0.0) if delta else 0.0
                    family.series[labels] = previous + float(value)
            else:
                family = self._family(name, "gauge", doc)
                if family is not None:
                    previous = family.series.get(labels, 0.0) if delta else 0.0
                    family.series[labels] = previous + float(value)
        elif kind == "histogram":
            family = self._family(name, "histogram", doc)
            if family is None:
                return
            bounds = [float(b) for b in point.get("bounds", [])]
            counts = [int(c) for c in point.get("bucketCounts", [])]
            counts += [0] * (len(bounds) + 1 - len(counts))
            total, count = float(point.get("sum") or 0.0), int(point.get("count", 0))
            previous = family.series.get(labels)
            if delta and previous is not None and previous[0] == bounds:
                counts = [a + b for a, b in zip(previous[1], counts, strict=True)]
                total += previous[2]
                count += previous[3]
            family.series[labels] = (bounds, counts, total, count)
        elif kind == "summary":
            family = self._family(name, "summary", doc)
            if family is not None:
                family.series[labels] = (
                    point.get("quantiles", {}),
                    float(point.get("sum") or 0.0),
                    int(point.get("count", 0)),
                )

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            families = {name: (f.kind, f.documentation, dict(f.series)) for name, f in self._families.items()}
        for name, (kind, doc, series) in sorted(families.items()):
            metric = Metric(name, doc, kind)
            for labels, value in series.items():
                base = dict(labels)
                if kind == "counter":
                    metric.add_sample(f"{name}_total", base, value)
                elif kind == "gauge":
                    metric.add_sample(name, base, value)
                elif kind == "histogram":
                    bounds, counts, total, count = value
                    cumulative = 0
                    for bound, bucket in zip(bounds, counts, strict=False):
                        cumulative += bucket
                        metric.add_sample(f"{name}_bucket", {**base, "le": _le(bound)}, cumulative)
                    metric.add_sample(f"{name}_bucket", {**base, "le": "+Inf"}, count)
                    metric.add_sample(f"{name}_sum", base, total)
                    metric.add_sample(f"{name}_count", base, count)
                else:
                    quantiles, total, count = value
                    for quantile, qvalue in quantiles.items():
                        metric.add_sample(name, {**base, "quantile": quantile}, qvalue)
                    metric.add_sample(f"{name}_sum", base, total)
                    metric.add_sample(f"{name}_count", base, count)
            yield metric


def _le(bound: float) -> str:
    return repr(float(bound))


class CollectorMetrics(Collector):
    """prometheus_client custom collector: received OTLP metrics plus the collector's own counters."""

    def __init__(self, store: OtlpMetricStore, counters: Callable[[], Mapping[str, float]]) -> None:
        self._store = store
        self._counters = counters

    def collect(self) -> Iterable[Metric]:
        yield from self._store.collect()
        for name, value in sorted(self._counters().items()):
            metric = Metric(
                f"foundation_collector_{name}", f"Embedded collector: {name.replace('_', ' ')}.", "counter"
            )
            metric.add_sample(f"foundation_collector_{name}_total", {}, value)
            yield metric
