"""Placeholder: this verb group is being built (see the open issues); it registers no command yet."""

from __future__ import annotations

import typer


def register(root: typer.Typer) -> None:
    return None
