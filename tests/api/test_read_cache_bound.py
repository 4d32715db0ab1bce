"""The read cache's staleness rule (http/read_cache.py): an answer younger than the bound is served; an older
one only while the change feed has confirmed a moment within the bound; a cleared cache keeps nothing that
was being computed before the clear."""

from __future__ import annotations

import time

import pytest

from foundation.http.read_cache import ReadCache

BOUND = 0.2


@pytest.fixture
def cache() -> ReadCache:
    return ReadCache(BOUND, max_entries=100, max_age=60)


def keep(cache: ReadCache, value: str) -> None:
    cache.put("tenant", "variant", value, cache.begin("kind"))


def test_within_the_bound_an_answer_needs_no_feed(cache: ReadCache) -> None:
    keep(cache, "answer")
    assert cache.lookup("kind", "tenant", "variant") == ("answer", False)


def test_past_the_bound_an_answer_needs_a_recent_confirmation(cache: ReadCache) -> None:
    keep(cache, "answer")
    time.sleep(BOUND * 1.5)
    assert cache.lookup("kind", "tenant", "variant") is None, "no confirmation yet"
    cache.confirm(time.monotonic() - BOUND * 2)
    assert cache.lookup("kind", "tenant", "variant") is None, "a confirmation older than the bound"
    cache.confirm(time.monotonic())
    assert cache.lookup("kind", "tenant", "variant") == ("answer", False)
    assert cache.unconfirmed_for(time.monotonic()) < BOUND


def test_a_clear_drops_entries_and_answers_computed_before_it(cache: ReadCache) -> None:
    keep(cache, "answer")
    before_clear = cache.begin("kind")
    cache.clear()
    assert cache.lookup("kind", "tenant", "variant") is None
    cache.put("tenant", "variant", "stale", before_clear)
    assert cache.lookup("kind", "tenant", "variant") is None, "read before the clear: not kept"
    keep(cache, "fresh")
    assert cache.lookup("kind", "tenant", "variant") == ("fresh", False)


def test_without_a_feed_max_age_is_the_bound() -> None:
    cache = ReadCache(BOUND, max_entries=100)
    assert cache.max_age == BOUND
