"""Tenants: lookup by UUID or slug, provisioning, listing.

Lookups are cached per process: a tenant's id and slug never change, so a positive hit can be kept;
misses always go to the database so a tenant created by another process is seen at once.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from foundation.db import Database
from foundation.tenancy.models import Tenant

SLUG_PATTERN = re.compile(r"^[a-z0-9-]{1,32}$")
STATUSES = ("pilot", "production")


@dataclass(frozen=True)
class TenantRef:
    id: uuid.UUID
    slug: str
    name: str
    status: str

    @property
    def key(self) -> str:
        return str(self.id)


class TenantError(ValueError):
    """Invalid tenant input (bad slug, duplicate, unknown status)."""


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if len(value) in (32, 36) else None
    except ValueError:
        return None


class TenantDirectory:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[str, TenantRef] = {}

    async def find(self, identifier: str) -> TenantRef | None:
        """Resolve a UUID (any case) or a slug."""
        identifier = identifier.strip()
        as_uuid = parse_uuid(identifier)
        cache_key = str(as_uuid) if as_uuid else identifier
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        if as_uuid is None and not SLUG_PATTERN.match(identifier):
            return None
        condition = Tenant.id == as_uuid if as_uuid else Tenant.slug == identifier
        async with self.db.transaction() as session:
            row = (await session.execute(select(Tenant).where(condition))).scalar_one_or_none()
        if row is None:
            return None
        ref = _ref(row)
        self._cache[str(ref.id)] = ref
        self._cache[ref.slug] = ref
        return ref

    def cached(self, identifier: str) -> TenantRef | None:
        """The tenant if this process has resolved it before (no database query), else None."""
        hit = self._cache.get(identifier)
        if hit is not None:
            return hit
        as_uuid = parse_uuid(identifier.strip())
        return self._cache.get(str(as_uuid) if as_uuid else identifier.strip())

    async def list(self) -> list[TenantRef]:
        async with self.db.transaction() as session:
            rows = (await session.execute(select(Tenant).order_by(Tenant.slug))).scalars().all()
        return [_ref(row) for row in rows]

    async def create(
        self, slug: str, name: str, *, tenant_id: uuid.UUID | None = None, status: str = "pilot"
    ) -> TenantRef:
        if not SLUG_PATTERN.match(slug):
            raise TenantError(f"invalid slug {slug!r}: must match ^[a-z0-9-]{{1,32}}$")
        if status not in STATUSES:
            raise TenantError(f"invalid status {status!r}: must be one of {', '.join(STATUSES)}")
        if not name.strip() or len(name) > 200:
            raise TenantError("name must be 1..200 characters")
        tenant_id = tenant_id or uuid.uuid4()
        try:
            async with self.db.transaction(write=True) as session:
                clash = await session.execute(
                    select(Tenant.slug).where(or_(Tenant.slug == slug, Tenant.id == tenant_id))
                )
                if clash.first() is not None:
                    raise TenantError(f"a tenant with slug {slug!r} or id {tenant_id} already exists")
                session.add(Tenant(id=tenant_id, slug=slug, name=name.strip(), status=status))
        except IntegrityError as exc:
            raise TenantError(f"a tenant with slug {slug!r} or id {tenant_id} already exists") from exc
        return TenantRef(tenant_id, slug, name.strip(), status)


def _ref(row: Tenant) -> TenantRef:
    return TenantRef(row.id, row.slug, row.name, row.status)
