"""A small Prometheus HTTP API client (instant/range queries, targets) on httpx."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import httpx


class PrometheusError(RuntimeError):
    pass


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]  # (unix seconds, value); NaN/Inf dropped


class Prometheus:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise PrometheusError(f"{self.base_url}{path}: {exc}") from exc
        try:
            body: dict[str, Any] = response.json()
        except ValueError as exc:
            raise PrometheusError(f"{path}: HTTP {response.status_code}, not JSON") from exc
        if body.get("status") != "success":
            raise PrometheusError(f"{path}: {body.get('errorType')}: {body.get('error')}")
        return body

    def query(self, expr: str, at: float | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        return self._get("/api/v1/query", params)

    def query_range(self, expr: str, start: float, end: float, step: float | None = None) -> dict[str, Any]:
        step = step or max(1.0, round((end - start) / 240, 3))
        return self._get("/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step})

    def targets(self) -> dict[str, Any]:
        return self._get("/api/v1/targets")


def _num(raw: Any) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return math.nan


def instant_values(body: dict[str, Any]) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of an instant-query answer (vector or scalar)."""
    data = body.get("data", {})
    result = data.get("result", [])
    if data.get("resultType") == "scalar":
        return [({}, _num(result[1]))]
    return [(item.get("metric", {}), _num(item.get("value", [0, "NaN"])[1])) for item in result]


def range_series(body: dict[str, Any]) -> list[Series]:
    out: list[Series] = []
    for item in body.get("data", {}).get("result", []):
        points = [(float(ts), _num(v)) for ts, v in item.get("values", [])]
        points = [(ts, v) for ts, v in points if math.isfinite(v)]
        out.append(Series(labels=item.get("metric", {}), points=points))
    return out
