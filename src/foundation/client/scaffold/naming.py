"""Names derived from a feature slug: the slug rules, kebab-case → PascalCase, and refusals.

A slug is what the API accepts (``^[a-z0-9-]+$``, 1..64) *and* what makes valid names everywhere the template
uses it: a TypeScript identifier (``user-settings`` → ``UserSettings``), a folder on every file system, a
Storybook title. So it starts with a letter, has no empty segment (``a--b``, ``-a``, ``a-``), and is not a
name Windows reserves for devices (``con``, ``nul``, ``com1``…).
"""

from __future__ import annotations

import re

SLUG = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
MAX_SLUG = 64
_WINDOWS_DEVICES = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(10)),
    *(f"lpt{i}" for i in range(10)),
}
# Globals a component of that name would shadow in its module (legal TypeScript, but a trap).
_SHADOWED_GLOBALS = {
    "Array",
    "Boolean",
    "Date",
    "Error",
    "Function",
    "Intl",
    "JSON",
    "Map",
    "Math",
    "Number",
    "Object",
    "Promise",
    "Proxy",
    "Reflect",
    "RegExp",
    "Set",
    "String",
    "Symbol",
    "WeakMap",
    "WeakSet",
    "React",
    "Fragment",
    "Suspense",
    "Window",
    "Document",
    "Element",
    "Event",
    "Node",
    "Record",
    "Partial",
    "Readonly",
}


class InvalidSlug(ValueError):
    pass


def check_slug(slug: str) -> str:
    """The slug, or InvalidSlug with the reason."""
    if not 1 <= len(slug) <= MAX_SLUG:
        raise InvalidSlug(f"feature slug {slug!r} must be 1..{MAX_SLUG} characters")
    if not SLUG.fullmatch(slug):
        raise InvalidSlug(
            f"feature slug {slug!r} must be kebab-case: lower-case letters and digits in words joined by "
            "single dashes, starting with a letter (e.g. user-settings)"
        )
    if slug in _WINDOWS_DEVICES:
        raise InvalidSlug(f"feature slug {slug!r} is a reserved device name on Windows")
    name = pascal_case(slug)
    if name in _SHADOWED_GLOBALS or f"{name}Page" in _SHADOWED_GLOBALS:
        raise InvalidSlug(f"feature slug {slug!r} would make the component {name}, which shadows a global")
    return slug


def pascal_case(slug: str) -> str:
    """``user-settings`` → ``UserSettings``; ``loan-2fa`` → ``Loan2fa`` (words keep their letters)."""
    return "".join(word[:1].upper() + word[1:] for word in slug.split("-"))


def title_case(slug: str) -> str:
    """``user-settings`` → ``User settings``."""
    words = slug.split("-")
    return " ".join([words[0].capitalize(), *words[1:]])


def story_export(tenant_slug: str) -> str:
    """The CSF export name of a tenant's story: ``tenant-alfa`` → ``TenantAlfa`` (``Tenant`` prefix when the
    slug starts with a digit)."""
    name = pascal_case(tenant_slug)
    return name if name[:1].isalpha() else f"Tenant{name}"
