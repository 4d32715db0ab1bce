"""Operator tooling (install the ``[ops]`` extra): load smoke, embedded OTLP collector, native observability
stack, dashboards, release validation, private PostgreSQL/Redis servers for development and tests.

The API runtime never imports this package (import-linter contract in pyproject.toml).
"""
