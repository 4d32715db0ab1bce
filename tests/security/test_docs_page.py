"""/docs in headless Chromium with the network off: Swagger UI comes from the API's own origin, under a CSP
that allows only 'self' and no inline script; the operations are listed and "Try it out" executes a GET."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from foundation.ops.dashboards.browser import find_chromium
from foundation.ops.perf.server import ApiServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server


def test_docs_csp_allows_only_self_and_no_inline_script(api: ApiServer) -> None:
    page = httpx.get(f"{api.base_url}/docs", timeout=10)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp and "http" not in csp
    assert "<script>" not in page.text and "cdn" not in page.text.lower()
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-initializer.js", "favicon.png"):
        response = httpx.get(f"{api.base_url}/docs/assets/{asset}", timeout=10)
        assert response.status_code == 200, asset
        assert response.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(f"{api.base_url}/docs/assets/..%2Fpyproject.toml", timeout=10).status_code == 404
    assert httpx.get(f"{api.base_url}/docs/oauth2-redirect", timeout=10).status_code == 404


def test_docs_page_works_offline_with_a_self_only_csp(api: ApiServer) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium not found; install it with: sudo apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    origin = api.base_url
    outside: list[str] = []
    violations: list[str] = []
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                # No name resolves except the loopback address: the network is off for this page.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            ],
        )
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            def guard(route: object) -> None:
                url = route.request.url  # type: ignore[attr-defined]
                if urlsplit(url)._replace(path="", query="", fragment="").geturl() != origin:
                    outside.append(url)
                    route.abort()  # type: ignore[attr-defined]
                else:
                    route.continue_()  # type: ignore[attr-defined]

            page.route("**/*", guard)
            # Added through the DevTools protocol, so the page's CSP does not apply to this listener itself.
            page.add_init_script(
                "document.addEventListener('securitypolicyviolation', e => (window.__violations = "
                "window.__violations || []).push(e.violatedDirective + ' ' + e.blockedURI))"
            )
            page.goto(f"{origin}/docs", wait_until="load")
            page.wait_for_selector(".opblock", timeout=30_000)
            paths = page.locator(".opblock .opblock-summary-path").all_inner_texts()
            assert any("/api/v1/tenants/{tenantId}/themes/current" in p for p in paths), paths
            assert len(paths) >= 10, paths

            summary_path = page.locator(".opblock-summary-path", has_text=re.compile(r"^/health$"))
            health = page.locator(".opblock-get", has=summary_path)
            health.locator(".opblock-summary").click()
            health.locator(".try-out__btn").click()
            health.locator(".execute").click()
            status = health.locator(".live-responses-table tbody .response-col_status").first
            status.wait_for(timeout=30_000)
            assert status.inner_text().strip() == "200"
            assert '"status": "ok"' in health.locator(".live-responses-table").inner_text()
            violations = page.evaluate("window.__violations || []")
        finally:
            browser.close()
    assert not outside, f"requests left the API's origin: {outside}"
    assert not violations, f"CSP violations: {violations}"
    assert not [e for e in errors if "favicon" not in e], errors
