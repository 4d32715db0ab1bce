"""structlog JSON logs: one event per line with timestamp, level, event and context fields.

The PII guard runs last before rendering, so no processor can re-introduce an unmasked value.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from foundation.observability import access_log
from foundation.observability.pii import structlog_pii_processor

_configured_level = logging.INFO


def enabled_for(level: int) -> bool:
    """Whether an event at ``level`` would be written: callers skip building fields for dropped events."""
    return level >= _configured_level


def configure_logging(
    level: str = "INFO", *, json_lines: bool = True, access_short_path: bool = True
) -> None:
    global _configured_level
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        numeric_level = logging.INFO
    _configured_level = numeric_level
    renderer: Any = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            structlog.processors.format_exc_info,
            structlog_pii_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    access_log.configure(
        json_lines=json_lines, short_path=access_short_path, info_enabled=numeric_level <= logging.INFO
    )
    # Library loggers (uvicorn, sqlalchemy) keep the standard handlers; quiet uvicorn's own access log,
    # which this service replaces with its structured one.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
