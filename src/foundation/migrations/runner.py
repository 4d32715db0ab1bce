"""Programmatic Alembic: `foundation db upgrade|current` without an alembic.ini on disk."""

from __future__ import annotations

import io
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(url: str, output: io.StringIO | None = None) -> Config:
    config = Config(stdout=output) if output is not None else Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def script_directory() -> ScriptDirectory:
    """This release's migrations (no database involved)."""
    return ScriptDirectory.from_config(alembic_config(""))


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def current(url: str) -> str:
    buffer = io.StringIO()
    command.current(alembic_config(url, buffer))
    return buffer.getvalue().strip()
