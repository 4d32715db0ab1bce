"""Bulk data for benchmarks and scale tests: many tenants, each with a current theme, a story, SC samples and
registrations — through the service layer, never one CLI process per tenant.

Tenants are created with :class:`TenantDirectory`, themes with ``ThemeService.publish`` (the WCAG-checked
path), stories with ``upsert_stories``, samples with ``SampleService.ingest`` and registrations with
``scaffolds.service.register_batch`` inside ``Database.write`` transactions of ``batch`` registrations each —
the code the POST handler and its batching queue run, so every row (idempotency record, registration, SC-001
sample and the ``sc001_histograms`` row its trigger maintains) is what production would have written.

Usage from Python: ``await load(db, LoadPlan(tenants=1000, registrations=100_000))``; progress goes to a
callback (the benches print it on stderr).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from foundation.db import Database, utcnow
from foundation.design_system.schemas import StoryIn
from foundation.design_system.service import ResolvedStory, upsert_stories
from foundation.scaffolds.schemas import ScaffoldRequest
from foundation.scaffolds.service import Attempt, register_batch
from foundation.seed import demo_theme
from foundation.success_metrics.service import NewSample, SampleService
from foundation.tenancy.service import TenantDirectory, TenantRef
from foundation.themes.service import ThemeService

SLUG_FORMAT = "scale-{:05d}"
INITIATOR = "8c9f8a0e-3c1e-4c7e-9b58-1f9f0b7d2a11"
# One registration per tenant a benchmark can replay: this key with exactly this body (replay_body()).
REPLAY_KEY = "replay-fixture"
REPLAY_DURATION_MS = 600_000


@dataclass(frozen=True)
class LoadPlan:
    tenants: int
    registrations: int  # in all, spread evenly (the first tenants get one more when it does not divide)
    samples_per_tenant: int = 5  # SC-002/SC-003 samples besides the registrations' SC-001
    expired_fraction: float = 0.0  # share of registrations whose idempotency record has already expired
    batch: int = 500  # registrations per write transaction
    seed: int = 42
    replay_fixture: bool = True  # plus REPLAY_KEY per tenant (not counted in `registrations`)


@dataclass
class LoadReport:
    tenants: list[TenantRef]
    registrations: int = 0
    seconds: float = 0.0


def tenant_slug(index: int) -> str:
    return SLUG_FORMAT.format(index)


def replay_body() -> dict[str, object]:
    """The JSON body that replays REPLAY_KEY of any loaded tenant (200, Idempotent-Replayed)."""
    return registration_request(REPLAY_KEY, REPLAY_DURATION_MS).model_dump(mode="json", exclude_none=True)


def registration_request(slug: str, duration_ms: int) -> ScaffoldRequest:
    return ScaffoldRequest.model_validate(
        {
            "featureSlug": slug,
            "initiatedBy": INITIATOR,
            "slices": [{"slice": "features", "files": [{"path": f"src/f/{slug}.ts", "checksum": "e" * 64}]}],
            "lintCommitHash": "f" * 40,
            "scReferences": ["@SC-001"],
            "durationMs": duration_ms,
        }
    )


async def create_tenants(db: Database, count: int, progress: Callable[[str], None]) -> list[TenantRef]:
    """Tenants ``scale-00000``…, each with a current theme and a story; existing ones are reused."""
    directory = TenantDirectory(db)
    themes = ThemeService(db)  # no read cache: the loading process serves nothing
    tenants: list[TenantRef] = []
    for index in range(count):
        slug = tenant_slug(index)
        tenant = await directory.find(slug) or await directory.create(slug, f"Scale tenant {index}")
        await themes.publish(tenant, "1.0.0", demo_theme("#0F5132"), make_current=True)
        tenants.append(tenant)
        if (index + 1) % 1000 == 0:
            progress(f"tenants: {index + 1}/{count}")
    stories = [ResolvedStory(t.id, _story(t.slug)) for t in tenants]
    for start in range(0, len(stories), 500):
        await upsert_stories(db, stories[start : start + 500], None)
    return tenants


async def load(db: Database, plan: LoadPlan, progress: Callable[[str], None] = lambda _: None) -> LoadReport:
    started = time.perf_counter()
    rng = random.Random(plan.seed)  # noqa: S311  # reproducible load data, not a secret
    tenants = await create_tenants(db, plan.tenants, progress)
    sample_service = SampleService(db)
    report = LoadReport(tenants)
    base = utcnow() - timedelta(days=30)
    for position, tenant in enumerate(tenants):
        samples = [
            NewSample("SC-002" if i % 2 else "SC-003", rng.uniform(50, 100), base + timedelta(hours=i), "ci")
            for i in range(plan.samples_per_tenant)
        ]
        await sample_service.ingest(tenant, samples)
        share, extra = divmod(plan.registrations, len(tenants))
        share += 1 if position < extra else 0
        report.registrations += await _register(db, tenant, share, plan, rng)
        if plan.replay_fixture:
            fixture = Attempt.of(REPLAY_KEY, registration_request(REPLAY_KEY, REPLAY_DURATION_MS))
            async with db.write(tenant.id) as connection:
                await register_batch(connection, [(tenant, fixture)], timedelta(hours=24))
        if (position + 1) % max(1, len(tenants) // 20) == 0:
            progress(
                f"registrations: {report.registrations}/{plan.registrations} "
                f"({position + 1}/{len(tenants)} tenants, {time.perf_counter() - started:.0f} s)"
            )
    report.seconds = time.perf_counter() - started
    return report


async def _register(db: Database, tenant: TenantRef, count: int, plan: LoadPlan, rng: random.Random) -> int:
    expired = round(count * plan.expired_fraction)
    created = 0
    for start in range(0, count, plan.batch):
        attempts = [
            Attempt.of(
                f"bulk-{index}", registration_request(f"bulk-{index}", rng.randint(30_000, 8 * 3_600_000))
            )
            for index in range(start, min(count, start + plan.batch))
        ]
        # Records of the first `expired` registrations expire at once: purge material (retention bench).
        ttls = [
            timedelta(hours=-1) if start + i < expired else timedelta(hours=24) for i in range(len(attempts))
        ]
        async with db.write(tenant.id) as connection:
            for ttl in sorted(set(ttls)):
                group = [a for a, t in zip(attempts, ttls, strict=True) if t == ttl]
                results = await register_batch(connection, [(tenant, attempt) for attempt in group], ttl)
                created += sum(1 for r in results if not isinstance(r, Exception))
    return created


def _story(slug: str) -> StoryIn:
    return StoryIn.model_validate(
        {
            "tenantId": None,
            "componentId": "loan-card",
            "storyId": f"loan-card--{slug}",
            "tags": ["lending", slug],
            "coveragePercent": 80.0,
            "axeStatus": "pass",
            "chromaticBuild": "bulk-1",
            "storybookUrl": f"https://storybook.iabank.local/?path=/story/loan-card--{slug}",
        }
    )
