"""FastAPI's own telemetry stays off: with a process-wide OpenTelemetry provider set (as under
`opentelemetry-instrument`), requests must not gain framework-made server spans next to ours."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.observability.servers import ALFA, seeded_database

SCRIPT = textwrap.dedent(
    """
    import asyncio, os, sys
    import httpx
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)

    from foundation.app import create_app

    async def main():
        app = create_app()
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                response = await client.get(sys.argv[1], headers={"X-Tenant-Id": "tenant-alfa"})
                assert response.status_code == 200, response.status_code
        print(sorted(span.name for span in memory.get_finished_spans()))

    asyncio.run(main())
    """
)


def test_no_framework_spans_with_a_global_provider(tmp_path: Path) -> None:
    env = {
        "FOUNDATION_DATABASE_URL": seeded_database(tmp_path / "db"),
        "FOUNDATION_VAR_DIR": str(tmp_path / "var"),
        "FOUNDATION_AUTH": "off",
        "FOUNDATION_TRACING_ENABLED": "false",
        "FOUNDATION_LOG_LEVEL": "WARNING",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, f"/api/v1/tenants/{ALFA}/themes/current"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
