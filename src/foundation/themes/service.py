"""Theme versions: publish (with the WCAG report), make current, read the current one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from foundation.db import Database, utcnow
from foundation.errors import ThemeNotFound, ThemeVersionConflict
from foundation.http.idempotency import fingerprint
from foundation.http.json_encoding import canonical_json, rfc3339, weak_etag
from foundation.http.read_cache import ReadCache
from foundation.read_changes import record_change
from foundation.tenancy.service import TenantRef
from foundation.themes.models import ThemeVersion
from foundation.themes.wcag import check_theme

# Read-cache kind of answers built from a tenant's current theme, invalidated by every publish.
THEME_CACHE_KIND = "current-theme"
CATEGORY_KEYS = ("foundation", "semantic", "component")


@dataclass(frozen=True)
class CurrentTheme:
    document: bytes
    etag: str


@dataclass(frozen=True)
class PublishResult:
    created: bool
    representation: dict[str, Any]
    etag: str
    current: bool
    warnings: list[str]


def normalise_categories(categories: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {key: dict(sorted(categories.get(key, {}).items())) for key in CATEGORY_KEYS}


class ThemeService:
    def __init__(self, db: Database, cache: ReadCache | None = None) -> None:
        self.db = db
        self.cache = cache if cache is not None else ReadCache(0)

    async def current(self, tenant: TenantRef) -> CurrentTheme:
        async with self.db.read(tenant.id) as connection:
            row = (
                await connection.execute(
                    select(ThemeVersion.document, ThemeVersion.etag).where(
                        ThemeVersion.tenant_id == tenant.id, ThemeVersion.is_current.is_(True)
                    )
                )
            ).first()
        if row is None:
            raise ThemeNotFound(f"Tenant {tenant.slug} has no current theme.")
        return CurrentTheme(row.document.encode("utf-8"), row.etag)

    async def publish(
        self,
        tenant: TenantRef,
        version: str,
        categories: dict[str, dict[str, str]],
        make_current: bool,
    ) -> PublishResult:
        normalised = normalise_categories(categories)
        content_fingerprint = fingerprint(normalised)
        for _attempt in range(3):
            try:
                result = await _publish_once(
                    self.db, tenant, version, normalised, content_fingerprint, make_current
                )
            except IntegrityError:
                continue  # a concurrent publish of the same version won; classify against it
            self.cache.invalidate(THEME_CACHE_KIND, tenant.id)
            return result
        raise ThemeVersionConflict(f"Version {version} is being published concurrently; retry.")


async def _publish_once(
    db: Database,
    tenant: TenantRef,
    version: str,
    categories: dict[str, dict[str, str]],
    content_fingerprint: str,
    make_current: bool,
) -> PublishResult:
    async with db.transaction(tenant.id, write=True) as session:
        existing = (
            await session.execute(
                select(ThemeVersion).where(
                    ThemeVersion.tenant_id == tenant.id, ThemeVersion.version == version
                )
            )
        ).scalar_one_or_none()
        created = existing is None
        if existing is not None and existing.content_fingerprint != content_fingerprint:
            raise ThemeVersionConflict(
                f"Version {version} already exists for {tenant.slug} with different content; "
                "publish a new version."
            )
        if existing is None:
            report = check_theme(categories)
            generated_at = utcnow()
            representation = {
                "tenantId": str(tenant.id),
                "version": version,
                "generatedAt": rfc3339(generated_at),
                "categories": categories,
                "wcagReport": report,
            }
            existing = ThemeVersion(
                tenant_id=tenant.id,
                version=version,
                categories=categories,
                wcag_report=report,
                content_fingerprint=content_fingerprint,
                is_current=False,
                generated_at=generated_at,
                document=canonical_json(representation),
                etag=weak_etag(representation),
            )
            session.add(existing)
            await session.flush()
        warnings: list[str] = []
        if make_current and not existing.is_current:
            if existing.wcag_report.get("status") != "pass":
                warnings.append("makeCurrent ignored: the theme fails the WCAG AA contrast check")
            else:
                await session.execute(
                    update(ThemeVersion)
                    .where(ThemeVersion.tenant_id == tenant.id, ThemeVersion.is_current.is_(True))
                    .values(is_current=False)
                )
                await session.flush()
                existing.is_current = True
                await record_change(session, THEME_CACHE_KIND, tenant.id)
        representation = json.loads(existing.document)
        return PublishResult(created, representation, existing.etag, existing.is_current, warnings)
