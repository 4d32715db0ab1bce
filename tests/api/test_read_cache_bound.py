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


def test_a_write_refuses_answers_read_before_it_of_its_own_tenant_only(cache: ReadCache) -> None:
    """With thousands of tenants writing, one tenant's write must not keep every other tenant's answers of
    the same kind from being kept."""
    of_alfa, of_beta = cache.begin("kind"), cache.begin("kind")
    cache.invalidate("kind", "alfa")  # alfa's write commits while both answers are being computed
    cache.put("alfa", "variant", "stale", of_alfa)
    cache.put("beta", "variant", "current", of_beta)
    assert cache.lookup("kind", "alfa", "variant") is None, "read before alfa's write: not kept"
    assert cache.lookup("kind", "beta", "variant") == ("current", False)
    cache.invalidate("other-kind", "beta")
    cache.put("beta", "variant", "still current", of_beta)
    assert cache.lookup("kind", "beta", "variant") == ("still current", False), "another kind's write"


def test_a_whole_kind_invalidation_refuses_every_tenants_earlier_answers(cache: ReadCache) -> None:
    of_alfa = cache.begin("kind")
    cache.invalidate("kind")  # e.g. a global story: visible to every tenant
    cache.put("alfa", "variant", "stale", of_alfa)
    assert cache.lookup("kind", "alfa", "variant") is None
    cache.put("alfa", "variant", "fresh", cache.begin("kind"))
    assert cache.lookup("kind", "alfa", "variant") == ("fresh", False)


def test_invalidations_of_more_tenants_than_remembered_stay_safe() -> None:
    """The last invalidation of at most max(max_entries, 1024) groups is remembered; a forgotten group
    counts as invalidated at the newest number forgotten, so an older ticket is refused, never accepted."""
    cache = ReadCache(BOUND, max_entries=10, max_age=60)
    early = cache.begin("kind")
    cache.invalidate("kind", "tenant-0")
    for tenant in range(1, 1100):  # tenant-0's invalidation is forgotten among these
        cache.invalidate("kind", f"tenant-{tenant}")
    assert len(cache._group_invalidated) <= 1024
    cache.put("tenant-0", "variant", "stale", early)
    assert cache.lookup("kind", "tenant-0", "variant") is None, "forgotten, so refused: never stale"
    cache.put("tenant-0", "variant", "fresh", cache.begin("kind"))
    assert cache.lookup("kind", "tenant-0", "variant") == ("fresh", False)
