"""Helpers shared by the CLI verbs: settings, running coroutines, database errors as one-line failures."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from foundation.cli.errors import fail

if TYPE_CHECKING:
    from foundation.settings import Settings

T = TypeVar("T")


def settings() -> Settings:
    # Imported here: pydantic-settings is a noticeable part of every CLI start; most verbs never need it.
    from foundation.settings import get_settings

    try:
        return get_settings()
    except Exception as exc:  # pydantic's message names the variable
        fail(f"invalid configuration: {str(exc).splitlines()[0]} ({_first_error(exc)})")


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        items = errors()
        if items:
            loc = ".".join(str(p) for p in items[0].get("loc", ()))
            return f"FOUNDATION_{loc.upper()}: {items[0].get('msg')}"
    return type(exc).__name__


def ensure_sqlite_parent(url: str) -> None:
    """Create the directory of a file-backed SQLite URL, with a clear error when that is impossible."""
    if not url.startswith("sqlite") or ":memory:" in url:
        return
    path = url.split("///", 1)[-1].split("?", 1)[0]
    if not path:
        return
    parent = Path(path).expanduser().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot create the database directory {parent}: {exc.strerror}")
    if not _writable(parent):
        fail(f"the database directory {parent} is not writable")


def _writable(directory: Path) -> bool:
    import os

    return os.access(directory, os.W_OK)


def run_db(action: Callable[[], Awaitable[T]], url: str) -> T:
    """Run a database coroutine; connection problems become one line and exit 1."""
    try:
        return asyncio.run(action())  # type: ignore[arg-type]
    except Exception as exc:
        from sqlalchemy.exc import DBAPIError, OperationalError

        if isinstance(exc, (OperationalError, DBAPIError, OSError, ConnectionError, TimeoutError)):
            fail(f"database unavailable ({_redacted(url)}): {str(getattr(exc, 'orig', exc)).splitlines()[0]}")
        raise


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable url>"
