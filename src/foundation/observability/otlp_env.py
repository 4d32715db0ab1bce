"""Where OTLP/HTTP data goes, from the standard ``OTEL_EXPORTER_OTLP_*`` variables: one resolver for the API's
span exporter, the span CLI and the perf smoke's metrics, so one variable means the same URL everywhere.

Per the OTLP exporter specification, a signal-specific endpoint (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is
used as-is, and the base endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT``) gets ``v1/<signal>`` appended. An
explicit value (a command-line flag) is a base URL unless it already ends with the signal's path. Pure: no
imports beyond the standard library, so the client and ops tooling may use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

Signal = Literal["traces", "metrics"]

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"


def setting(name: str, signal: Signal = "traces", env: Mapping[str, str] | None = None) -> str | None:
    """``OTEL_EXPORTER_OTLP_<SIGNAL>_<name>``, else ``OTEL_EXPORTER_OTLP_<name>``; blank counts as unset."""
    env = os.environ if env is None else env
    for variable in (f"OTEL_EXPORTER_OTLP_{signal.upper()}_{name}", f"OTEL_EXPORTER_OTLP_{name}"):
        value = env.get(variable, "").strip()
        if value:
            return value
    return None


def export_configured(signal: Signal = "traces", env: Mapping[str, str] | None = None) -> bool:
    """True when the environment names an endpoint for ``signal``."""
    return setting("ENDPOINT", signal, env) is not None


def endpoint(
    signal: Signal = "traces",
    explicit: str | None = None,
    *,
    default: str = DEFAULT_ENDPOINT,
    env: Mapping[str, str] | None = None,
) -> str:
    """The full URL to POST ``signal`` data to."""
    path = f"/v1/{signal}"
    if explicit and explicit.strip():
        return _with_path(explicit.strip(), path)
    env = os.environ if env is None else env
    specific = env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "").strip()
    if specific:
        return specific if "://" in specific else f"http://{specific}"
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or default
    return _with_path(base, path)


def _with_path(url: str, path: str) -> str:
    if "://" not in url:
        url = f"http://{url}"
    base = url.rstrip("/")
    return base if base.endswith(path) else base + path
