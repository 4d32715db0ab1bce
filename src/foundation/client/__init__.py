"""What developers and CI run against a Foundation API (install the ``[client]`` extra): the span CLI's
sender, the feature scaffolder, the success-criteria report ingestion.

It talks to the API over HTTP only: import-linter forbids it every server module except the pure PII guard
and the OTLP endpoint resolution (pyproject.toml).
"""
