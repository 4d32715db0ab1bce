"""Embedded OTLP/HTTP collector (see docs/collector.md).

Public entry points: :func:`create_collector_app`, :func:`serve_collector`, :func:`collector_in_thread`
and, for the span CLI, :func:`send_bootstrap_spans`. Imports are lazy so importing the package is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from foundation.collector.app import create_collector_app
    from foundation.collector.server import collector_in_thread, serve_collector
    from foundation.collector.span_cli import send_bootstrap_spans

__all__ = ["collector_in_thread", "create_collector_app", "send_bootstrap_spans", "serve_collector"]

_LOCATIONS = {
    "create_collector_app": "foundation.collector.app",
    "serve_collector": "foundation.collector.server",
    "collector_in_thread": "foundation.collector.server",
    "send_bootstrap_spans": "foundation.collector.span_cli",
}


def __getattr__(name: str) -> Any:
    if name in _LOCATIONS:
        import importlib

        return getattr(importlib.import_module(_LOCATIONS[name]), name)
    raise AttributeError(name)
