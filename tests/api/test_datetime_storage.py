"""UTC datetimes as SQLite stores them: UTCDateTime writes SQLite's text in one step, and that text must be
exactly what SQLAlchemy's SQLite DATETIME writes (rows written before and after compare and sort alike)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select
from sqlalchemy.dialects import sqlite

from foundation.db import Database, UTCDateTime
from tests.conftest import BACKEND

VALUES = [
    datetime(2026, 11, 28, 14, 44, 38, 123456, tzinfo=UTC),
    datetime(2026, 11, 28, 14, 44, 38, tzinfo=UTC),  # no microseconds: still written with six digits
    datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),  # years below 1000 keep four digits
    datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=-3))),  # Brasília time, stored as UTC
    datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=5, minutes=30))),
]


def test_sqlite_text_is_what_sqlalchemy_writes() -> None:
    dialect = sqlite.dialect()
    ours = UTCDateTime().bind_processor(dialect)
    reference = sqlite.DATETIME().bind_processor(dialect)
    assert ours is not None and reference is not None
    for value in VALUES:
        assert ours(value) == reference(value.astimezone(UTC).replace(tzinfo=None))
    assert ours(None) is None
    with pytest.raises(ValueError, match="naive"):
        ours(datetime(2026, 1, 1))


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite storage")
async def test_values_round_trip_and_sort_in_utc(tmp_path: Path) -> None:
    table = Table("moments", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime()))
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/moments.db")
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(table.metadata.create_all)
            await connection.execute(insert(table), [{"id": i, "at": v} for i, v in enumerate(VALUES)])
        async with database.engine.connect() as connection:
            stored = (await connection.execute(select(table.c.id, table.c.at).order_by(table.c.at))).all()
        assert [at for _, at in stored] == sorted(value.astimezone(UTC) for value in VALUES)
        assert all(at.tzinfo is UTC for _, at in stored)
    finally:
        await database.dispose()
