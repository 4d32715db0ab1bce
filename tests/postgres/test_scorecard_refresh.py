"""The scorecard of /metrics on PostgreSQL, as the application role under row-level security: computed by
the background task through migration 0007's SECURITY DEFINER functions (test_scorecard_refresh.py of
tests/observability) and on every scrape with FOUNDATION_METRICS_SCORECARD_SECONDS=0
(test_scorecard_metrics.py). The tests are those modules' own, collected here so that the PostgreSQL stage
of scripts/test.sh runs them."""

from __future__ import annotations

import pytest

from tests.conftest import BACKEND
from tests.observability.test_scorecard_metrics import (  # noqa: F401
    test_metrics_show_each_tenants_scorecard_as_the_api_answers_it,
    test_tenants_beyond_the_limit_are_counted_as_other_and_statements_do_not_grow,
)
from tests.observability.test_scorecard_refresh import (  # noqa: F401
    test_a_failed_refresh_is_logged_and_a_snapshot_past_its_bound_is_counted_and_left_out,
    test_a_posted_sample_shows_within_the_refresh_interval_plus_one_computation,
    test_a_scrape_serves_the_snapshot_and_runs_no_scorecard_statement,
)

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL only")
