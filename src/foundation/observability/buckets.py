"""Histogram bucket bounds, importable without creating any metric (no prometheus_client side effects)."""

from __future__ import annotations

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
LOOP_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# SC-001, minutes (observability.md); also the columns of sc001_histograms (migration 0006).
SC001_BUCKETS = (1, 2, 3, 5, 8, 13, 21, 30, 45, 60, 90, 120, 240, 480, 720, 1440)
