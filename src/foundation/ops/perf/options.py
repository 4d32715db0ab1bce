"""`foundation perf smoke` options into a :class:`SmokeConfig`: checks, environment overrides, mode defaults.

A flag wins over its environment variable, which wins over the mode's default. Bad input raises
:class:`OptionError` with the one-line message the CLI prints (exit 2).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from foundation.observability import otlp_env
from foundation.ops.perf.durations import parse_duration, parse_positive_duration
from foundation.ops.perf.smoke import DEFAULT_DURATION, MODE_DEFAULT_VUS, SmokeConfig

TENANT_PATTERN = re.compile(r"^[A-Za-z0-9-]{1,64}$")
URL_PATTERN = re.compile(r"^https?://[^\s/]+(/\S*)?$")
MAX_VUS = 10_000


class OptionError(ValueError):
    """An option or its environment variable is invalid; the message names it."""


def build_config(
    *,
    mode: str,
    vus: int | None,
    duration: str | None,
    think_time: str,
    base_url: str | None,
    tenant: str,
    otlp_endpoint: str | None,
    output_dir: Path,
    fail_on: str | None,
    token: str | None,
    throughput_critical: float | None,
    throughput_warning: float | None,
) -> SmokeConfig:
    # Checked in this order, so the first bad option is the one reported.
    mode = _mode(mode)
    vus = _vus(vus, mode)
    duration_seconds, think_seconds = _durations(duration, think_time)
    _check_target(base_url, tenant)
    fail_on = _fail_on(fail_on)
    otlp = _otlp_metrics_url(otlp_endpoint)
    critical, warning = _thresholds(throughput_critical, throughput_warning)
    return SmokeConfig(
        mode=mode,
        vus=vus,
        duration_seconds=duration_seconds,
        think_seconds=think_seconds,
        tenant=tenant,
        output_dir=output_dir,
        base_url=base_url,
        token=token or None,
        otlp_endpoint=otlp,
        fail_on=fail_on,
        throughput_critical=critical,
        throughput_warning=warning,
    )


def _mode(mode: str) -> str:
    mode = mode.strip().lower()
    if mode not in MODE_DEFAULT_VUS:
        raise OptionError(f"--mode must be local or ci (got {mode!r})")
    return mode


def _vus(vus: int | None, mode: str) -> int:
    if vus is None:
        raw = os.environ.get("FOUNDATION_PERF_VUS", "").strip()
        if raw and not raw.isdigit():
            raise OptionError(f"FOUNDATION_PERF_VUS must be a positive integer (got {raw!r})")
        vus = int(raw) if raw else MODE_DEFAULT_VUS[mode]
    if vus < 1 or vus > MAX_VUS:
        raise OptionError(f"--vus must be between 1 and {MAX_VUS} (got {vus})")
    return vus


def _durations(duration: str | None, think_time: str) -> tuple[float, float]:
    """(load duration, think time) in seconds."""
    text = duration or os.environ.get("FOUNDATION_PERF_DURATION", "").strip() or DEFAULT_DURATION
    try:
        return parse_positive_duration(text, "--duration"), parse_duration(think_time)
    except ValueError as exc:
        raise OptionError(str(exc)) from None


def _check_target(base_url: str | None, tenant: str) -> None:
    if base_url is not None and not URL_PATTERN.match(base_url):
        raise OptionError(
            f"--base-url must be an http(s) URL such as http://127.0.0.1:8000 (got {base_url!r})"
        )
    if not TENANT_PATTERN.match(tenant):
        raise OptionError(f"--tenant must be a tenant slug or UUID (got {tenant!r})")


def _fail_on(fail_on: str | None) -> str | None:
    if fail_on is None:
        return None
    fail_on = fail_on.strip().lower()
    if fail_on not in ("warning", "critical"):
        raise OptionError(f"--fail-on must be warning or critical (got {fail_on!r})")
    return fail_on


def _otlp_metrics_url(otlp_endpoint: str | None) -> str | None:
    """The full /v1/metrics URL, resolved like every other OTLP user (observability/otlp_env.py)."""
    if otlp_endpoint is not None and not URL_PATTERN.match(otlp_endpoint):
        raise OptionError(f"OTLP endpoint must be an http(s) URL (got {otlp_endpoint!r})")
    if otlp_endpoint or otlp_env.export_configured("metrics"):
        return otlp_env.endpoint("metrics", otlp_endpoint)
    return None


def _thresholds(critical_flag: float | None, warning_flag: float | None) -> tuple[float | None, float | None]:
    critical = _threshold(critical_flag, "FOUNDATION_PERF_THROUGHPUT_CRITICAL")
    warning = _threshold(warning_flag, "FOUNDATION_PERF_THROUGHPUT_WARNING")
    if critical is not None and warning is not None and warning < critical:
        raise OptionError(f"throughput warning threshold ({warning:g}) must be >= critical ({critical:g})")
    return critical, warning


def _threshold(flag: float | None, env_name: str) -> float | None:
    value = flag if flag is not None else _float_env(env_name)
    if value is not None and value < 0:
        raise OptionError(f"throughput threshold must be >= 0 (got {value})")
    return value


def _float_env(name: str) -> float | None:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        return float(raw)
    except ValueError:
        raise OptionError(f"{name} must be a number (got {raw!r})") from None
