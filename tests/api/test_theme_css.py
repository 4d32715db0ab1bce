"""GET …/themes/current.css (api.md §3, runtime theming): naming, clashes, injection safety (checked with a
CSS Syntax Level 3 parser, tinycss2), conditional requests, headers and errors."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import tinycss2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundation.db import Database
from foundation.seed import demo_theme
from foundation.tenancy.service import TenantDirectory
from foundation.themes.css import css_value, render_css
from tests.api.helpers import ALFA, BETA, WEAK_ETAG, assert_problem, assert_ratelimit_headers, theme_path
from tests.conftest import BACKEND

CSS_PATH = f"/api/v1/tenants/{ALFA}/themes/current.css"
ALFA_HDR = {"X-Tenant-Id": "tenant-alfa"}
SELECTOR = ':root[data-tenant="tenant-alfa"]'
# Colours that pass the WCAG check, so the version can become current; the rest is what the test is about.
PASSING_COLOURS = {"color.brand.primary": "#0F5132", "color.brand.on-primary": "#FFFFFF"}
HOSTILE_VALUES = {
    "font.family.base": 'Inter, "Segoe UI", sans-serif',
    "shadow.card": "0 1px 2px rgba(0, 0, 0, .2)",
    "size.gap": "calc(1rem + 2px)",
    "evil.close": "red;} body { background: url(https://evil.example/x) } :root{--x:1",
    "evil.comment": "/* swallow",
    "evil.comment-end": "*/ }",
    "evil.style": "</style><script>alert(1)</script>",
    "evil.string": '"unterminated ; }',
    "evil.paren": "url(x ; } ",
    "evil.backslash": "x\\",
    "evil.newline": "a\n} b {",
    "evil.bracket": "[a; b}",
    "evil.unicode": "café \u2028 \ufeff end",
}


def declarations(css: str) -> tuple[str, dict[str, str]]:
    """(selector, {name: serialized value}) of the stylesheet's single rule; fails on anything else."""
    rules = tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
    assert [rule.type for rule in rules] == ["qualified-rule"], rules
    [rule] = rules
    items = tinycss2.parse_blocks_contents(rule.content, skip_comments=True, skip_whitespace=True)
    assert all(item.type == "declaration" for item in items), [i for i in items if i.type != "declaration"]
    names = [item.name for item in items]
    assert len(names) == len(set(names))
    selector = tinycss2.serialize(rule.prelude).strip()
    return selector, {item.name: tinycss2.serialize(item.value).strip() for item in items}


async def publish(client: httpx.AsyncClient, version: str, categories: dict[str, Any]) -> None:
    response = await client.put(
        theme_path(ALFA, version), headers=ALFA_HDR, json={"categories": categories, "makeCurrent": True}
    )
    assert response.status_code == 201, response.text
    assert response.json()["current"] is True, response.json()


async def test_seeded_theme_as_custom_properties(client: httpx.AsyncClient) -> None:
    response = await client.get(CSS_PATH, headers=ALFA_HDR)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.headers["cache-control"] == "private, no-cache"
    assert WEAK_ETAG.match(response.headers["etag"])
    assert_ratelimit_headers(response, 60)
    assert response.headers["x-content-type-options"] == "nosniff"
    selector, values = declarations(response.text)
    assert selector == SELECTOR
    theme = demo_theme("#0F5132")
    expected = {
        "--" + token.replace(".", "-"): value
        for category in ("foundation", "semantic", "component")
        for token, value in theme[category].items()
    }
    assert values == expected
    assert "--color-brand-primary: #0F5132;" in response.text
    assert "--buttonOnPrimary: #FFFFFF;" in response.text  # names keep their letter case


async def test_root_variant(client: httpx.AsyncClient) -> None:
    plain = await client.get(CSS_PATH, headers=ALFA_HDR)
    rooted = await client.get(CSS_PATH, params={"root": "1"}, headers=ALFA_HDR)
    assert rooted.status_code == 200
    selector, values = declarations(rooted.text)
    assert selector == f"{SELECTOR},\n:root"
    assert values == declarations(plain.text)[1]
    assert rooted.headers["etag"] != plain.headers["etag"]
    beta = await client.get(
        f"/api/v1/tenants/{BETA}/themes/current.css", headers={"X-Tenant-Id": "tenant-beta"}
    )
    assert declarations(beta.text)[0] == ':root[data-tenant="tenant-beta"]'
    assert_problem(
        await client.get(CSS_PATH, params={"root": "maybe"}, headers=ALFA_HDR),
        400,
        "invalid_request",
        fields=["root"],
    )


async def test_later_category_wins_a_clash(client: httpx.AsyncClient) -> None:
    await publish(
        client,
        "2.0.0",
        {
            "foundation": {**PASSING_COLOURS, "radius.md": "4px", "space.md": "8px"},
            "semantic": {"radius-md": "6px"},
            "component": {"radius.md": "10px"},
        },
    )
    values = declarations((await client.get(CSS_PATH, headers=ALFA_HDR)).text)[1]
    assert values["--radius-md"] == "10px"
    assert values["--space-md"] == "8px"


async def test_hostile_values_stay_inside_their_declarations(client: httpx.AsyncClient) -> None:
    await publish(client, "3.0.0", {"foundation": PASSING_COLOURS, "component": HOSTILE_VALUES})
    response = await client.get(CSS_PATH, headers=ALFA_HDR)
    css = response.text
    selector, values = declarations(css)
    assert selector == SELECTOR
    assert set(values) == {"--" + name.replace(".", "-") for name in {**PASSING_COLOURS, **HOSTILE_VALUES}}
    assert "<" not in css and ">" not in css
    # Ordinary values are served exactly as published.
    for name in ("font.family.base", "shadow.card", "size.gap"):
        assert f"--{name.replace('.', '-')}: {HOSTILE_VALUES[name]};" in css
    # Escaped characters come back as plain characters of an identifier, never as syntax.
    [token] = tinycss2.parse_component_value_list(css_value("red;}"))
    assert (token.type, token.value) == ("ident", "red;}")


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(min_size=1, max_size=256))
def test_no_value_can_leave_its_declaration(value: str) -> None:
    css = render_css("tenant-alfa", "1.0.0", {"foundation": {"a": value, "b.after": "1px"}}, root=False)
    text = css.decode("utf-8")
    selector, values = declarations(text)
    assert selector == SELECTOR and set(values) == {"--a", "--b-after"}
    assert values["--b-after"] == "1px"
    assert "<" not in text


async def test_conditional_get_and_etag_stability(make_client: Callable[..., httpx.AsyncClient]) -> None:
    async with make_client() as one, make_client() as two:
        first = await one.get(CSS_PATH, headers=ALFA_HDR)
        other_process = await two.get(CSS_PATH, headers=ALFA_HDR)
        assert first.headers["etag"] == other_process.headers["etag"]
        assert first.content == other_process.content
        etag = first.headers["etag"]
        for header in (etag, etag.removeprefix("W/"), f'W/"{"0" * 32}", {etag}', "*"):
            cached = await one.get(CSS_PATH, headers={**ALFA_HDR, "If-None-Match": header})
            assert cached.status_code == 304, header
            assert cached.content == b"" and cached.headers["etag"] == etag
            assert_ratelimit_headers(cached)
        stale = await one.get(CSS_PATH, headers={**ALFA_HDR, "If-None-Match": f'W/"{"0" * 32}"'})
        assert stale.status_code == 200
        await publish(one, "4.0.0", {"foundation": {**PASSING_COLOURS, "space.lg": "24px"}})
        changed = await one.get(CSS_PATH, headers={**ALFA_HDR, "If-None-Match": etag})
        assert changed.status_code == 200 and "--space-lg: 24px;" in changed.text
        assert changed.headers["etag"] != etag


async def test_errors(client: httpx.AsyncClient, request: pytest.FixtureRequest, database_url: str) -> None:
    assert_problem(await client.get(CSS_PATH), 400, "tenant_header_mismatch")
    assert_problem(
        await client.get(CSS_PATH, headers={"X-Tenant-Id": "tenant-beta"}), 400, "tenant_header_mismatch"
    )
    assert_problem(
        await client.get("/api/v1/tenants/tenant-nowhere/themes/current.css", headers={"X-Tenant-Id": "x"}),
        404,
        "tenant_not_found",
    )
    url = request.getfixturevalue("owner_database_url") if BACKEND == "postgres" else database_url
    db = Database(url)
    try:
        await TenantDirectory(db).create("tenant-omega", "Omega", tenant_id=uuid.uuid4())
    finally:
        await db.dispose()
    assert_problem(
        await client.get(
            "/api/v1/tenants/tenant-omega/themes/current.css", headers={"X-Tenant-Id": "tenant-omega"}
        ),
        404,
        "tenant_theme_not_found",
    )
