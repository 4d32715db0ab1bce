"""The app built in this process from settings given as environment variables, for the in-process benches
(stack_inprocess.py, tracing_inprocess.py): the caller's FOUNDATION_* and OTEL_* variables are dropped first,
so only what the bench asks for applies. Imports only what every tree has, so a bench run with another
tree's interpreter builds that tree's app."""

from __future__ import annotations

import os
from typing import Any


def app_with(variables: dict[str, str]) -> Any:
    for key in [k for k in os.environ if k.startswith(("FOUNDATION_", "OTEL_"))]:
        del os.environ[key]
    os.environ.update(variables)
    from foundation.app import create_app
    from foundation.settings import get_settings

    get_settings.cache_clear()
    return create_app()
