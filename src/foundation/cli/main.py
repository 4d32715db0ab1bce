"""The `foundation` command: one entry point, one module per verb group.

Each module under ``foundation.cli`` exposes ``register(root)``; heavy imports (locust, matplotlib,
the app itself) stay inside the commands so `foundation --help` is fast.
"""

from __future__ import annotations

import typer

from foundation.cli import (
    auth,
    collector,
    database,
    deploy,
    metrics,
    observe,
    openapi,
    otel,
    perf,
    rehearse,
    seed,
    serve,
    stack,
    tenants,
    themes,
    validate,
)

root = typer.Typer(
    name="foundation",
    help="IABank Foundation: API service and release-validation tooling.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (
    serve,
    database,
    seed,
    tenants,
    themes,
    openapi,
    otel,
    metrics,
    collector,
    perf,
    stack,
    observe,
    validate,
    auth,
    deploy,
    rehearse,
):
    module.register(root)


def main() -> None:
    root()


if __name__ == "__main__":
    main()
