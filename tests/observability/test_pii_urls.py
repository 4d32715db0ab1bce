"""URL attributes (``http.url``, ``http.target``, ``url.query``, ``url.full``) are checked decoded too."""

from __future__ import annotations

import pytest

from foundation.observability.pii import REDACTED, scrub_attributes


@pytest.mark.parametrize(
    ("key", "value", "hidden"),
    [
        ("url.query", "email=joao.silva%40example.com", "joao.silva"),
        ("http.target", "/x?cpf=123.456.789-09", "123.456.789-09"),
        ("url.full", "http://h/x?auth=Bearer%20abcDEF123456", "abcDEF123456"),
        ("http.url", "http://h/x?auth=Bearer+abcDEF123456", "abcDEF123456"),
        ("url.query", "doc=12345678909&x=1", "12345678909"),
        ("url.path", "/nowhere/joao%40example.com", "joao"),
    ],
)
def test_encoded_pii_in_url_attributes_is_masked(key: str, value: str, hidden: str) -> None:
    scrubbed = scrub_attributes({key: value})[key]
    assert hidden not in scrubbed
    assert REDACTED in scrubbed


@pytest.mark.parametrize(
    "value",
    [
        "/api/v1/tenants/00000000-0000-0000-0000-000000000001/themes/current",
        "page=2&page_size=50",
        "q=a%20b+c",
        "since=2024-01-01T00%3A00%3A00Z",
    ],
)
def test_clean_urls_are_left_alone(value: str) -> None:
    assert scrub_attributes({"url.query": value})["url.query"] == value
