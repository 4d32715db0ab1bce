"""The rehearsal fleet: one PostgreSQL, one Redis, N API instances and HAProxy, each started and stopped by
its PID, everything under one directory.

PostgreSQL is a private cluster (``foundation.ops.devtools.postgres``) migrated with the owner's URL; the
instances connect as the non-owner application role, so row-level security applies as in production. Redis
(``foundation.ops.devtools.redis``) holds the rate-limit counters, one budget for all instances. Each instance
is a ``foundation serve`` process on its own port — as a pod would be — and HAProxy
(:mod:`foundation.ops.rehearsal.haproxy`) balances them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from foundation.ops.devtools import postgres, redis
from foundation.ops.procs import free_port, stop_process_group, wait_until
from foundation.ops.rehearsal.haproxy import READY_BACKEND, Backend, Config, HAProxy

# Rate limits are part of what is rehearsed (one Redis budget for all instances), but load must not be
# throttled: every class is raised except writes, which stay small enough to exhaust in a test.
DEFAULT_SETTINGS: Mapping[str, str] = {
    "FOUNDATION_PROFILE": "local",
    "FOUNDATION_AUTH": "off",
    "FOUNDATION_LOG_LEVEL": "WARNING",
    "FOUNDATION_RATE_LIMIT_ENABLED": "true",
    "FOUNDATION_RATE_LIMIT_SCAFFOLD_PER_MINUTE": "1000000",
    "FOUNDATION_RATE_LIMIT_SCAFFOLD_READ_PER_MINUTE": "1000000",
    "FOUNDATION_RATE_LIMIT_THEME_READ_PER_MINUTE": "1000000",
    "FOUNDATION_RATE_LIMIT_METRICS_READ_PER_MINUTE": "1000000",
    "FOUNDATION_RATE_LIMIT_STORIES_READ_PER_MINUTE": "1000000",
    "FOUNDATION_RATE_LIMIT_WRITE_PER_MINUTE": "20",
}


@dataclass
class Instance:
    name: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    generation: int = 0
    previous: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None


class Fleet:
    """``with Fleet(directory, instances=3) as fleet:`` everything runs; on exit everything is stopped."""

    def __init__(
        self,
        directory: Path,
        *,
        instances: int = 3,
        balancer_port: int | None = None,
        settings: Mapping[str, str] | None = None,
        log_requests: bool = True,
        ready_timeout: float = 180.0,
    ) -> None:
        self.directory = directory.resolve()
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.ready_timeout = ready_timeout
        self.instances = [Instance(f"api{i + 1}", free_port()) for i in range(instances)]
        self.cluster: postgres.Cluster | None = None
        self.redis_port: int | None = None
        self.key_prefix = f"rehearsal-{secrets.token_hex(4)}"
        self.balancer = HAProxy(
            Config(
                port=balancer_port or free_port(),
                servers=[Backend(i.name, i.port) for i in self.instances],
                runtime_socket=self.directory / "haproxy.sock",
                log_requests=log_requests,
            ),
            self.directory / "haproxy",
        )

    # --- whole fleet ----------------------------------------------------------------------------------------

    def __enter__(self) -> Fleet:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.cluster = postgres.up(self.directory / "pg")
        self.redis_port = redis.up(self.directory / "redis")
        prepare_database(self.cluster)
        for instance in self.instances:  # all at once: their start-ups overlap
            self.start_instance(instance)
        for instance in self.instances:
            self.wait_instance_ready(instance)
        self.balancer.start()
        for instance in self.instances:
            self.wait_balancer(instance, "UP")

    def stop(self) -> None:
        with suppress(Exception):
            self.balancer.stop()
        for instance in self.instances:
            for process in [*instance.previous, instance.process]:
                if process is not None:
                    stop_process_group(process)
        with suppress(Exception):
            redis.down(self.directory / "redis")
        with suppress(Exception):
            postgres.down(self.directory / "pg", purge=True)

    @property
    def url(self) -> str:
        return self.balancer.url

    @property
    def owner_url(self) -> str:
        assert self.cluster is not None  # noqa: S101  # type narrowing: set once the fleet started
        return self.cluster.owner_url

    @property
    def superuser_url(self) -> str:
        assert self.cluster is not None  # noqa: S101  # type narrowing: set once the fleet started
        return self.cluster.superuser_url

    def instance_env(self, instance: Instance) -> dict[str, str]:
        assert self.cluster is not None and self.redis_port is not None  # noqa: S101  # type narrowing: set once the fleet started
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("FOUNDATION_", "OTEL_", "PROMETHEUS_MULTIPROC_DIR"))
        }
        env.update(self.settings)
        env.update(
            {
                "FOUNDATION_DATABASE_URL": self.cluster.app_url,
                "FOUNDATION_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "FOUNDATION_RATE_LIMIT_KEY_PREFIX": self.key_prefix,
                "FOUNDATION_VAR_DIR": str(self.directory / "var" / instance.name),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    # --- one instance -------------------------------------------------------------------------------------

    def start_instance(self, instance: Instance) -> None:
        """Start ``foundation serve`` for ``instance`` (a new generation of it) without waiting."""
        if instance.process is not None:
            instance.previous.append(instance.process)
        instance.generation += 1
        logs = self.directory / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{instance.name}-{instance.generation}.log"
        command = [sys.executable, "-m", "foundation.cli.main", "serve", "--host", "127.0.0.1"]
        with log_path.open("wb") as log:
            instance.process = subprocess.Popen(
                [*command, "--port", str(instance.port)],
                env=self.instance_env(instance),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log_of(self, instance: Instance, generation: int | None = None) -> str:
        path = self.directory / "logs" / f"{instance.name}-{generation or instance.generation}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_instance_ready(self, instance: Instance, timeout: float | None = None) -> None:
        def ready() -> bool:
            process = instance.process
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise RuntimeError(f"{instance.name} exited with {code}:\n{self.log_of(instance)[-3000:]}")
            return httpx.get(f"{instance.url}/health/ready", timeout=2).status_code == 200

        wait_until(
            ready, timeout or self.ready_timeout, what=f"{instance.name} ready", ignore=(httpx.HTTPError,)
        )

    def wait_balancer(
        self, instance: Instance, status: str, timeout: float = 60.0, backend: str = READY_BACKEND
    ) -> float:
        """Until HAProxy reports ``instance`` with ``status`` ("UP", "DOWN"); returns the seconds waited."""
        started = time.monotonic()
        while True:
            current = self.balancer.server_states(backend).get(instance.name, "")
            if current == status:  # not "UP 1/2" (going down) or "DOWN 1/2" (going up)
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(
                    f"HAProxy reports {instance.name} {current!r}, not {status}, after {timeout}s"
                )
            time.sleep(0.05)

    def signal_instance(self, instance: Instance, sig: signal.Signals) -> subprocess.Popen[bytes]:
        process = instance.process
        assert process is not None  # noqa: S101  # type narrowing: set once the fleet started
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        return process

    def restart_instance(self, instance: Instance, sig: signal.Signals = signal.SIGTERM) -> float:
        """Stop ``instance`` with ``sig`` and start its next generation on the same port at once (the old
        process may still be draining); back when it is ready and HAProxy has it UP. Returns the seconds it
        was out of service."""
        started = time.monotonic()
        old = self.signal_instance(instance, sig)
        self.start_instance(instance)
        self.wait_instance_ready(instance)
        self.wait_balancer(instance, "UP")
        old.wait(timeout=60)
        return time.monotonic() - started

    def create_tenants(
        self, slugs: Sequence[str], *, concurrency: int = 16, with_theme: bool = True
    ) -> list[str]:
        """Provision tenants (the tenant directory, as `foundation tenants create` does) and, unless told not
        to, publish a current, WCAG-passing theme for each through the balancer (``PUT …/themes/1.0.0``, which
        spends one unit of the tenant's write budget); their ids."""
        tenants = asyncio.run(_create_tenant_rows(self.owner_url, slugs, concurrency))
        if with_theme:
            asyncio.run(_publish_themes(self.url, tenants, concurrency))
        return tenants

    # --- the database ---------------------------------------------------------------------------------------

    def crash_database(self, down_seconds: float) -> None:
        """``pg_ctl -m immediate stop`` (no checkpoint: a crash), ``down_seconds`` down, then start again:
        the start runs crash recovery before accepting connections."""
        assert self.cluster is not None  # noqa: S101  # type narrowing: set once the fleet started
        directory = self.directory / "pg"
        postgres.stop(directory, mode="immediate")
        deadline = time.monotonic() + down_seconds
        while time.monotonic() < deadline:  # the outage itself, not a synchronisation
            time.sleep(0.1)
        restarted = postgres.up(directory, self.cluster.port)
        if restarted.port != self.cluster.port:
            raise RuntimeError(f"PostgreSQL came back on port {restarted.port}, not {self.cluster.port}")


def prepare_database(cluster: postgres.Cluster) -> None:
    """Migrate as the owner, create the application role, seed the demo tenants."""
    from foundation.db import Database
    from foundation.migrations import roles, runner
    from foundation.seed import seed
    from foundation.settings import Settings

    runner.upgrade(cluster.owner_url)
    roles.ensure_application_role(
        Settings(
            database_url=cluster.app_url,
            migration_database_url=cluster.owner_url,
            db_app_role=postgres.APP_ROLE,
        )
    )

    async def seed_demo() -> None:
        db = Database(cluster.owner_url)
        try:
            await seed(db)
        finally:
            await db.dispose()

    asyncio.run(seed_demo())


async def _create_tenant_rows(owner_url: str, slugs: Sequence[str], concurrency: int) -> list[str]:
    from foundation.db import Database
    from foundation.tenancy.service import TenantDirectory

    db = Database(owner_url)
    directory = TenantDirectory(db)
    gate = asyncio.Semaphore(concurrency)

    async def one(slug: str) -> str:
        async with gate:
            return str((await directory.create(slug, f"Rehearsal {slug}", status="production")).id)

    try:
        return list(await asyncio.gather(*(one(slug) for slug in slugs)))
    finally:
        await db.dispose()


async def _publish_themes(base_url: str, tenants: Sequence[str], concurrency: int) -> None:
    from foundation.seed import demo_theme

    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:

        async def one(index: int, tenant: str) -> None:
            # A distinct brand colour per tenant, each channel at most 0x5F: white on it passes WCAG AA.
            primary = f"#{(index * 37) % 0x60:02X}{(index * 59) % 0x60:02X}{(index * 83) % 0x60:02X}"
            body = {"categories": demo_theme(primary), "makeCurrent": True}
            async with gate:
                response = await client.put(
                    f"/api/v1/tenants/{tenant}/themes/1.0.0", json=body, headers={"X-Tenant-Id": tenant}
                )
            if response.status_code != 201:
                raise RuntimeError(f"publishing a theme for {tenant}: {response.status_code} {response.text}")

        await asyncio.gather(*(one(i, tenant) for i, tenant in enumerate(tenants)))
