"""Loaded by pytest before tests/conftest.py: the suite's plugins.

tests/requirements.py: which server or tool each group of tests needs, the skip summary, and
FOUNDATION_TEST_REQUIRE (the switch that makes a missing one a failure in CI).
"""

pytest_plugins = ["tests.requirements"]
