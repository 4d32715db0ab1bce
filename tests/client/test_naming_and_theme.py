"""Names derived from a slug, the theme properties the component may use, and the derived request keys."""

from __future__ import annotations

import pytest

from foundation.client.scaffold import naming, registration
from foundation.client.scaffold.events import event_key
from foundation.client.scaffold.theme import Theme, roles
from foundation.seed import demo_theme
from foundation.themes.css import render_css


@pytest.mark.parametrize(
    ("slug", "component"),
    [
        ("user-settings", "UserSettings"),
        ("loan-simulator", "LoanSimulator"),
        ("pix", "Pix"),
        ("loan-2fa", "Loan2fa"),
        ("a-b-c", "ABC"),
        ("settings", "Settings"),  # the previous CLI split on the letter "s": "UErEtting"
    ],
)
def test_kebab_to_pascal(slug: str, component: str) -> None:
    assert naming.check_slug(slug) == slug
    assert naming.pascal_case(slug) == component


@pytest.mark.parametrize(
    "slug",
    [
        "",
        "User-Settings",
        "user_settings",
        "2fa-setup",
        "-leading",
        "trailing-",
        "double--dash",
        "com1",
        "nul",
        "object",
        "x" * 65,
        "ação",
        "a b",
    ],
)
def test_slugs_that_cannot_make_an_identifier_are_refused(slug: str) -> None:
    with pytest.raises(naming.InvalidSlug):
        naming.check_slug(slug)


def test_story_exports() -> None:
    assert naming.story_export("tenant-alfa") == "TenantAlfa"
    assert naming.story_export("123-bank") == "Tenant123Bank"
    assert naming.title_case("user-settings") == "User settings"


def test_roles_use_only_defined_properties_and_pairs() -> None:
    css = render_css("tenant-alfa", "1.0.0", demo_theme("#0F5132"), root=False).decode()
    theme = Theme.from_css(css)
    assert theme.tenant_slug == "tenant-alfa"
    chosen = roles(theme)
    assert chosen == {
        "surface": "--color-neutral-bg",
        "onSurface": "--color-neutral-on-bg",
        "accent": "--color-brand-primary",
        "onAccent": "--color-brand-on-primary",
        "font": "--font-family-base",
        "space": "--space-md",
        "radius": "--button-radius",
    }
    assert set(chosen.values()) <= set(theme.properties)


def test_a_colour_without_its_pair_is_not_used() -> None:
    css = render_css(
        "tenant-x",
        "1.0.0",
        {"foundation": {"color.brand.primary": "#0F5132", "color.surface": "#FFFFFF", "space.md": "8px"}},
        root=False,
    ).decode()
    assert roles(Theme.from_css(css)) == {"space": "--space-md"}
    assert roles(Theme.from_css("")) == {}


def test_registration_key_follows_tenant_slug_and_checksums() -> None:
    files = [registration.FileEntry("features", "src/features/x/index.ts", "a" * 64)]
    key = registration.idempotency_key("tenant-alfa", "x", files)
    assert key == registration.idempotency_key("tenant-alfa", "x", list(reversed(files)))
    assert key != registration.idempotency_key("tenant-beta", "x", files)
    assert key != registration.idempotency_key(
        "tenant-alfa", "x", [registration.FileEntry("features", "src/features/x/index.ts", "b" * 64)]
    )
    assert len(key) <= 255 and key.isascii() and " " not in key
    assert registration.slice_of("web/src/pages/x/index.ts", "web/src") == "pages"
    assert registration.slice_of(".foundation/scaffolds/x.copier-answers.yml", "src") is None


def test_event_key_follows_the_arguments() -> None:
    body = {"type": "published", "commitHash": "c" * 40}
    assert event_key("tenant-alfa", "x", body) == event_key("TENANT-ALFA", "x", dict(reversed(body.items())))
    assert event_key("tenant-alfa", "x", body) != event_key(
        "tenant-alfa", "x", {**body, "commitHash": "d" * 40}
    )
