"""Verbs that need an optional extra: one clear line and exit 2 when it is not installed, never a traceback.

The production install carries the runtime only (``pip install iabank-foundation``); the operator tooling
needs ``[ops]`` and the developer/CI client ``[client]``. Which distributions an extra brings is read from
the installed package's own metadata (the ``extra == "ops"`` requirements of pyproject.toml), so this list
cannot drift from pyproject.toml. The check runs when the command runs, after argument parsing, so
``--help`` works everywhere, and before the command does anything, so nothing is half done.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from importlib import metadata
from typing import Any, TypeVar

from foundation.cli.errors import fail

DISTRIBUTION = "iabank-foundation"
F = TypeVar("F", bound=Callable[..., Any])
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?[^;]*;(.*)$")


def extra_distributions(extra: str) -> list[str]:
    """The distributions pyproject.toml lists under ``extra`` (empty when the project is not installed)."""
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:  # running from a source tree without an install
        return []
    marker = re.compile(rf"""extra\s*==\s*["']{re.escape(extra)}["']""")
    names = []
    for requirement in requirements:
        match = _REQUIREMENT.match(requirement)
        if match and marker.search(match.group(2)) and match.group(1) != DISTRIBUTION:
            names.append(match.group(1))
    return names


def missing_distributions(extra: str) -> list[str]:
    missing = []
    for name in extra_distributions(extra):
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def requires_extra(extra: str, verb: str) -> Callable[[F], F]:
    """Decorate the command ``verb`` (as the user types it: ``foundation perf smoke``) so that it fails
    with ``error: <verb> needs the [<extra>] extra (...)`` and exit 2 when a distribution of the extra is
    missing."""

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            missing = missing_distributions(extra)
            if missing:
                fail(
                    f"{verb} needs the [{extra}] extra (pip install '{DISTRIBUTION}[{extra}]'); "
                    f"missing: {', '.join(missing)}",
                    2,
                )
            return command(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate
