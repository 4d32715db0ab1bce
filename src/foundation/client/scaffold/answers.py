"""The feature's Copier answers (``.foundation/scaffolds/<slug>.copier-answers.yml``, committed with it): what
the template was rendered with. A re-run renders with the same answers — the same ``startedAt``, template
version, theme properties and stories — so it produces the same files and sends the same request."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

import yaml

from foundation.client.scaffold import errors, naming, template
from foundation.client.scaffold.tenant import TenantInfo
from foundation.client.scaffold.theme import Theme, roles

_SRC = re.compile(r"^(?!/)(?!.*(^|/)\.\.?(/|$))[A-Za-z0-9._/-]+$")
_TENANT_SLUG = re.compile(r"^[a-z0-9-]{1,32}$")
_PROPERTY = re.compile(r"^--[A-Za-z0-9-]+$")


def load_answers(root: Path, slug: str) -> dict[str, Any] | None:
    path = root / template.answers_path(slug)
    if not path.is_file():
        return None
    try:
        answers = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise errors.ScaffoldError(errors.USAGE, f"cannot read {path.relative_to(root)}: {exc}") from None
    if not isinstance(answers, dict):
        raise errors.ScaffoldError(errors.USAGE, f"{path.relative_to(root)} is not a Copier answers file")
    return answers


def _stories(config: dict[str, Any], tenant_slug: str) -> list[dict[str, str]]:
    configured = config.get("tenants") or []
    if not isinstance(configured, list) or not all(isinstance(t, str) for t in configured):
        raise errors.ScaffoldError(
            errors.USAGE, "tenants in .foundation/scaffold.json must be a list of slugs"
        )
    stories: list[dict[str, str]] = []
    own = [tenant_slug] if _TENANT_SLUG.fullmatch(tenant_slug) else []  # unknown slug (offline, by UUID)
    for slug in dict.fromkeys([*own, *configured]):
        export, index = naming.story_export(slug), 2
        while any(story["export"] == export for story in stories):
            export, index = f"{naming.story_export(slug)}{index}", index + 1
        stories.append({"slug": slug, "export": export})
    return stories


def template_data(
    options: Any,
    config: dict[str, Any],
    previous: dict[str, Any] | None,
    tenant: TenantInfo,
    *,
    started_at: str,
    sc: list[str],
    initiated_by: str | None,
) -> tuple[dict[str, Any], str]:
    """The answers to render with, and the template version."""
    before = {k: v for k, v in (previous or {}).items() if not str(k).startswith("_")}
    version = str((previous or {}).get("_commit", "")).removeprefix("v") or template.latest_version()
    if version not in template.shipped_versions():
        raise errors.ScaffoldError(
            errors.USAGE, f"template version {version} is not shipped by this foundation"
        )
    tenant_slug = str(before.get("tenant") or tenant.slug or tenant.identifier.lower())
    data = {
        **before,
        "feature_slug": options.slug,
        "component_name": naming.pascal_case(options.slug),
        "feature_title": naming.title_case(options.slug),
        "src_dir": options.src or before.get("src_dir") or config.get("src") or "src",
        "tenant": tenant_slug,
        "story_tenants": before.get("story_tenants") or _stories(config, tenant_slug),
        "theme": before["theme"] if "theme" in before else roles(Theme(tenant.slug, tenant.properties)),
        "started_at": before.get("started_at") or started_at,
        "initiated_by": initiated_by
        or os.environ.get("FOUNDATION_INITIATED_BY")
        or before.get("initiated_by")
        or str(uuid.uuid4()),
        "sc_references": sc or before.get("sc_references") or ["@SC-001"],
    }
    _validate(data)
    return data, version


def _validate(data: dict[str, Any]) -> None:
    """Everything that ends up inside generated TypeScript literals or paths is checked here."""
    problems = []
    if not isinstance(data["src_dir"], str) or not _SRC.fullmatch(data["src_dir"].strip("/")):
        problems.append(f"src folder {data['src_dir']!r} must be a relative path without '..'")
    data["src_dir"] = str(data["src_dir"]).strip("/")
    stories = data["story_tenants"]
    if not isinstance(stories, list) or not all(
        isinstance(s, dict) and _TENANT_SLUG.fullmatch(str(s.get("slug", ""))) for s in stories
    ):
        problems.append("story_tenants must be a list of {slug, export} with tenant slugs")
    theme = data["theme"]
    if not isinstance(theme, dict) or not all(_PROPERTY.fullmatch(str(v)) for v in theme.values()):
        problems.append("theme must map roles to CSS custom property names (--name)")
    try:
        data["initiated_by"] = str(uuid.UUID(str(data["initiated_by"])))
    except ValueError:
        problems.append(f"initiatedBy {data['initiated_by']!r} is not a UUID")
    if not _TENANT_SLUG.fullmatch(data["tenant"]) and not re.fullmatch(r"[0-9a-f-]{36}", data["tenant"]):
        problems.append(f"tenant {data['tenant']!r} is not a tenant slug")
    if problems:
        raise errors.ScaffoldError(errors.USAGE, "invalid template answers: " + "; ".join(problems))
