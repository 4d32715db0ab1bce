"""The tenant, checked against the API before anything is written, and its current theme.

``GET …/themes/current.css`` answers both questions: 404 ``tenant_not_found`` stops the command (exit 2), 404
``tenant_theme_not_found`` is a tenant without a theme (the component then uses no theme property), 200 gives
the tenant's slug and its custom properties. The stylesheet is kept in ``.foundation/cache/`` so that a
feature generated while the API is unreachable is still styled with the tenant's theme (and spooled).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from foundation.client.scaffold import errors
from foundation.client.scaffold.api import Api, Unconfirmed, final_error
from foundation.client.scaffold.theme import Theme

CACHE_DIR = Path(".foundation") / "cache"
CHECK_BUDGET_SECONDS = 3.0
_SAFE_NAME = re.compile(r"[^A-Za-z0-9-]")


@dataclass
class TenantInfo:
    identifier: str  # as given (UUID or slug): the path and X-Tenant-Id
    slug: str | None
    properties: tuple[str, ...]
    checked: bool
    warnings: list[str] = field(default_factory=list)
    stylesheet: str | None = None  # as served, kept in .foundation/cache/ once the feature is written

    @property
    def key(self) -> str:
        """The tenant's part of the Idempotency-Key: its slug when known."""
        return self.slug or self.identifier.lower()


def _cache_file(root: Path, identifier: str) -> Path:
    return root / CACHE_DIR / f"theme-{_SAFE_NAME.sub('_', identifier.lower())}.css"


def resolve_tenant(api: Api, root: Path, identifier: str) -> TenantInfo:
    path = f"/api/v1/tenants/{identifier}/themes/current.css"
    try:
        answer = api.request(
            "GET",
            path,
            headers={"X-Tenant-Id": identifier, "Accept": "text/css"},
            budget=min(api.budget, CHECK_BUDGET_SECONDS),
        )
    except Unconfirmed as exc:
        return _offline(root, identifier, exc.reason)
    title = (answer.problem or {}).get("title")
    if answer.status == 200 and isinstance(answer.body, str):
        theme = Theme.from_css(answer.body)
        return TenantInfo(
            identifier, theme.tenant_slug, theme.properties, checked=True, stylesheet=answer.body
        )
    if answer.status == 404 and title == "tenant_theme_not_found":
        return TenantInfo(
            identifier,
            None,
            (),
            checked=True,
            warnings=[f"tenant {identifier} has no current theme: the component uses no theme property"],
        )
    if answer.status == 404 and title == "tenant_not_found":
        raise errors.ScaffoldError(
            errors.USAGE, f"tenant {identifier!r} does not exist at {api.base_url}", answer.problem
        )
    raise final_error(answer, f"checking tenant {identifier}")


def save_stylesheet(root: Path, tenant: TenantInfo) -> None:
    """Keep the stylesheet for offline runs (called once the feature is being written: nothing before)."""
    if tenant.stylesheet is not None:
        cache = _cache_file(root, tenant.identifier)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(tenant.stylesheet, encoding="utf-8")


def _offline(root: Path, identifier: str, reason: str) -> TenantInfo:
    cache = _cache_file(root, identifier)
    if cache.is_file():
        theme = Theme.from_css(cache.read_text(encoding="utf-8"))
        return TenantInfo(
            identifier,
            theme.tenant_slug,
            theme.properties,
            checked=False,
            warnings=[
                f"API unreachable ({reason}): tenant not checked; theme from {cache.relative_to(root)}"
            ],
        )
    return TenantInfo(
        identifier,
        None,
        (),
        checked=False,
        warnings=[
            f"API unreachable ({reason}): tenant not checked and no cached theme; "
            "the component uses no theme property"
        ],
    )


def check_not_registered(api: Api, tenant: TenantInfo, slug: str) -> None:
    """A slug this tenant already registered, from elsewhere than this repository, is a conflict (exit 4)
    found before anything is written. Skipped when the API is unreachable."""
    if not tenant.checked:
        return
    path = f"/api/v1/tenants/{tenant.identifier}/features/scaffold/{slug}"
    try:
        answer = api.request(
            "GET", path, headers={"X-Tenant-Id": tenant.identifier}, budget=CHECK_BUDGET_SECONDS
        )
    except Unconfirmed:
        return
    if answer.status == 404:
        return
    if answer.status == 200:
        raise errors.ScaffoldError(
            errors.CONFLICT,
            f"feature {slug!r} is already registered for tenant {tenant.key}, and this repository has no "
            f"answers file for it (.foundation/scaffolds/{slug}.copier-answers.yml): choose another slug",
        )
    raise final_error(answer, f"checking feature {slug}")
