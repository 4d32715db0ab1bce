"""What a test needs from outside the virtualenv, in one place (a pytest plugin the root conftest.py loads).

A test that needs a server or a tool carries its group's marker (``@pytest.mark.postgres``, ``redis``,
``prometheus``, ``chromium``, ``runtime_install``). When the group is not available the test is skipped, and
the run ends with one line per skipped group saying why and how to provide it, so a plain ``pytest`` never
hides that, say, every row-level-security test was skipped.

``FOUNDATION_TEST_REQUIRE`` (comma-separated groups, or ``all``) turns those skips into failures:
`scripts/test.sh` sets it, so in CI a missing PostgreSQL or Redis fails the run instead of thinning it.

``@pytest.mark.timing`` marks a test whose assertions depend on wall-clock time under light load (latency
medians, loop lag, a load run's verdict). `scripts/test.sh` runs them in a final stage of their own, with
nothing else running; a plain ``pytest`` runs them with the rest.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REQUIRE_VARIABLE = "FOUNDATION_TEST_REQUIRE"
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Group:
    description: str
    missing: Callable[[], str | None]  # why the group is unavailable, None when it is available
    how: str


def _postgres() -> str | None:
    backend = os.environ.get("FOUNDATION_TEST_BACKEND", "sqlite")
    if backend != "postgres":
        return f"FOUNDATION_TEST_BACKEND is {backend!r}"
    if not os.environ.get("FOUNDATION_TEST_PG_URL"):
        return "FOUNDATION_TEST_PG_URL is not set"
    return None


def _redis() -> str | None:
    return None if os.environ.get("FOUNDATION_TEST_REDIS_URL") else "FOUNDATION_TEST_REDIS_URL is not set"


def _binaries(*names: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        absent = [name for name in names if shutil.which(name) is None]
        return f"{' and '.join(absent)} not on PATH" if absent else None

    return missing


def _chromium() -> str | None:
    from foundation.ops.dashboards import browser

    return None if browser.find_chromium() else "no chromium binary on PATH"


def runtime_bin() -> Path:
    """The bin/ of the runtime-only install (`make venv-runtime`), or FOUNDATION_TEST_RUNTIME_BIN."""
    given = os.environ.get("FOUNDATION_TEST_RUNTIME_BIN")
    # Resolved against the checkout: the tests run the install from other working directories.
    return (ROOT / given).resolve() if given else ROOT / ".venv-runtime" / "bin"


def _runtime_install() -> str | None:
    return (
        None if (runtime_bin() / "foundation").exists() else f"{runtime_bin() / 'foundation'} does not exist"
    )


GROUPS: dict[str, Group] = {
    "postgres": Group(
        "needs the private PostgreSQL cluster and FOUNDATION_TEST_BACKEND=postgres",
        _postgres,
        'make db-up; eval "$(make -s db-env)"; FOUNDATION_TEST_BACKEND=postgres pytest tests/postgres',
    ),
    "redis": Group(
        "needs the private Redis server",
        _redis,
        "make redis-up; export FOUNDATION_TEST_REDIS_URL=redis://127.0.0.1:<the port it printed>/0",
    ),
    "prometheus": Group(
        "needs the prometheus and promtool binaries",
        _binaries("prometheus", "promtool"),
        "sudo apt-get install -y prometheus",
    ),
    "chromium": Group("needs a headless Chromium", _chromium, "sudo apt-get install -y chromium"),
    "runtime_install": Group(
        "needs the runtime-only install (runtime lock + the project wheel, no extras)",
        _runtime_install,
        "make venv-runtime",
    ),
}


def required_groups(value: str | None = None) -> set[str]:
    raw = os.environ.get(REQUIRE_VARIABLE, "") if value is None else value
    names = {part.strip() for part in raw.split(",") if part.strip()}
    if "all" in names:
        return set(GROUPS)
    unknown = names - set(GROUPS)
    if unknown:
        known = ", ".join([*GROUPS, "all"])
        unknown_names = ", ".join(sorted(unknown))
        raise pytest.UsageError(f"{REQUIRE_VARIABLE}: unknown group(s) {unknown_names}; known: {known}")
    return names


class Requirements:
    def __init__(self, required: set[str]) -> None:
        self.required = required
        self.reasons: dict[str, str | None] = {}
        self.skipped: Counter[str] = Counter()

    def missing(self, name: str) -> str | None:
        if name not in self.reasons:
            self.reasons[name] = GROUPS[name].missing()
        return self.reasons[name]

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        for name in GROUPS:
            if item.get_closest_marker(name) is None:
                continue
            why = self.missing(name)
            if why is None:
                continue
            group = GROUPS[name]
            message = f"{name}: {group.description}; {why} (provide it with: {group.how})"
            if name in self.required:
                pytest.fail(f"{message}; {REQUIRE_VARIABLE} requires it", pytrace=False)
            self.skipped[name] += 1
            pytest.skip(message)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.skipped:
            return
        terminalreporter.section("skipped for lack of a server or tool", sep="=", yellow=True)
        for name, count in sorted(self.skipped.items()):
            group = GROUPS[name]
            terminalreporter.line(
                f"{name}: {count} test{'s' if count != 1 else ''} skipped, {self.reasons[name]}; "
                f"provide it with: {group.how}"
            )
        terminalreporter.line(f"({REQUIRE_VARIABLE}={','.join(sorted(self.skipped))} makes these failures)")


def pytest_configure(config: pytest.Config) -> None:
    for name, group in GROUPS.items():
        config.addinivalue_line("markers", f"{name}: {group.description} (else skipped; {REQUIRE_VARIABLE})")
    config.addinivalue_line(
        "markers", "timing: asserts wall-clock time; scripts/test.sh runs these alone in a final stage"
    )
    config.pluginmanager.register(Requirements(required_groups()), "foundation-requirements")
