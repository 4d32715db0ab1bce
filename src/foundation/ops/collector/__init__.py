"""Embedded OTLP/HTTP collector (see docs/collector.md).

Public entry points: :func:`create_collector_app`, :func:`serve_collector`, :func:`collector_in_thread`.
Imports are lazy so importing the package is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from foundation.ops.collector.app import create_collector_app
    from foundation.ops.collector.server import collector_in_thread, serve_collector

__all__ = ["collector_in_thread", "create_collector_app", "serve_collector"]

_LOCATIONS = {
    "create_collector_app": "foundation.ops.collector.app",
    "serve_collector": "foundation.ops.collector.server",
    "collector_in_thread": "foundation.ops.collector.server",
}


def __getattr__(name: str) -> Any:
    if name in _LOCATIONS:
        import importlib

        return getattr(importlib.import_module(_LOCATIONS[name]), name)
    raise AttributeError(name)
