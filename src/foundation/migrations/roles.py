"""Post-migration steps per backend. SQLite has no roles; the PostgreSQL role setup lands with RLS."""

from __future__ import annotations

from foundation.settings import Settings


def ensure_application_role(settings: Settings) -> None:
    return None
