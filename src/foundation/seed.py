"""Demo data: the contract's three tenants, each with a current theme; optionally stories and SC samples.

Idempotent: running it again changes nothing that already exists.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from foundation.db import Database, utcnow
from foundation.design_system.schemas import StoryIn
from foundation.design_system.service import ResolvedStory, upsert_stories
from foundation.scaffolds.schemas import ScaffoldRequest
from foundation.scaffolds.service import Attempt, Outcome, register
from foundation.success_metrics.service import NewSample, SampleService
from foundation.tenancy.service import TenantDirectory, TenantRef
from foundation.themes.service import ThemeService

DEMO_TENANTS = (
    ("00000000-0000-0000-0000-000000000000", "tenant-default", "Tenant Default", "pilot", "#1D4ED8"),
    ("00000000-0000-0000-0000-000000000001", "tenant-alfa", "Tenant Alfa", "production", "#0F5132"),
    ("00000000-0000-0000-0000-000000000002", "tenant-beta", "Tenant Beta", "pilot", "#6B21A8"),
)
DEMO_THEME_VERSION = "1.0.0"


@dataclass
class SeedReport:
    tenants_created: int = 0
    themes_published: int = 0
    stories_upserted: int = 0
    samples_accepted: int = 0
    scaffolds_registered: int = 0


def demo_theme(primary: str) -> dict[str, dict[str, str]]:
    """A small theme that passes the WCAG AA check (white on a dark brand colour)."""
    return {
        "foundation": {
            "color.brand.primary": primary,
            "color.brand.on-primary": "#FFFFFF",
            "color.neutral.bg": "#FFFFFF",
            "color.neutral.on-bg": "#111827",
            "font.family.base": "Inter, system-ui, sans-serif",
            "space.md": "16px",
        },
        "semantic": {
            "status.info.bg": "#DBEAFE",
            "status.info.on": "#1E3A8A",
            "status.danger.bg": "#FEE2E2",
            "status.danger.on": "#7F1D1D",
        },
        "component": {"buttonPrimary": primary, "buttonOnPrimary": "#FFFFFF", "button.radius": "8px"},
    }


async def seed(db: Database, *, demo_data: bool = False) -> SeedReport:
    report = SeedReport()
    directory = TenantDirectory(db)
    tenants: list[TenantRef] = []
    for tenant_id, slug, name, status, primary in DEMO_TENANTS:
        tenant = await directory.find(slug)
        if tenant is None:
            tenant = await directory.create(slug, name, tenant_id=uuid.UUID(tenant_id), status=status)
            report.tenants_created += 1
        tenants.append(tenant)
        result = await ThemeService(db).publish(
            tenant, DEMO_THEME_VERSION, demo_theme(primary), make_current=True
        )
        report.themes_published += int(result.created)
    if demo_data:
        await _demo_data(db, tenants, report)
    return report


async def _demo_data(db: Database, tenants: list[TenantRef], report: SeedReport) -> None:
    # Anchored at midnight UTC so a second run the same day finds the samples already there.
    base = utcnow().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=7)
    stories = [
        ResolvedStory(None, _story("button", "button--primary", ["core", "a11y"], 92.5, "pass")),
        ResolvedStory(None, _story("input", "input--default", ["core", "form"], 88.0, "pass")),
    ]
    for index, tenant in enumerate(tenants):
        stories.append(
            ResolvedStory(
                tenant.id,
                _story(
                    "loan-card",
                    f"loan-card--{tenant.slug}",
                    ["lending", tenant.slug],
                    75.0 + index * 5,
                    "warn",
                ),
            )
        )
    report.stories_upserted = await upsert_stories(db, stories, None)
    for index, tenant in enumerate(tenants):
        samples = (
            [
                # Percentages, as the scorecard and `foundation metrics ingest` use them.
                NewSample("SC-002", 97.0 - index, base + timedelta(days=day), "chromatic")
                for day in range(7)
            ]
            + [NewSample("SC-003", 92.0 + day * 0.5, base + timedelta(days=day), "ci") for day in range(7)]
            + [
                NewSample("SC-001", 12.0 + day, base + timedelta(days=day), "manual", f"demo-feature-{day}")
                for day in range(7)
            ]
        )
        accepted, _duplicates = await SampleService(db).ingest(tenant, samples)
        report.samples_accepted += accepted
        report.scaffolds_registered += await _demo_registrations(db, tenant)


async def _demo_registrations(db: Database, tenant: TenantRef) -> int:
    """A few registrations with durations, so the SC-001 histogram and dashboards show data at once."""
    created = 0
    for index, minutes in enumerate((6, 11, 19)):
        slug = f"demo-scaffold-{index + 1}"
        request = ScaffoldRequest.model_validate(
            {
                "featureSlug": slug,
                "initiatedBy": "00000000-0000-4000-8000-000000000001",
                "slices": [
                    {
                        "slice": "features",
                        "files": [{"path": f"src/features/{slug}/index.ts", "checksum": "0" * 64}],
                    }
                ],
                "lintCommitHash": "0" * 40,
                "scReferences": ["@SC-001"],
                "durationMs": minutes * 60_000,
            }
        )
        result = await register(db, tenant, Attempt.of(f"seed-{slug}", request), timedelta(days=3650))
        created += int(result.outcome is Outcome.created)
    return created


def _story(component: str, story: str, tags: list[str], coverage: float, axe: str) -> StoryIn:
    return StoryIn.model_validate(
        {
            "tenantId": None,
            "componentId": component,
            "storyId": story,
            "tags": tags,
            "coveragePercent": coverage,
            "axeStatus": axe,
            "chromaticBuild": "demo-build-1",
            "storybookUrl": f"https://storybook.iabank.local/?path=/story/{story}",
        }
    )
