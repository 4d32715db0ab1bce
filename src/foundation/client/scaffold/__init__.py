"""`foundation scaffold`: generate a frontend feature from the versioned Copier template, commit it and
register it with the Foundation API (SC-001), then report its lifecycle from CI (docs/scaffolding.md).

Talks to the API over HTTP only; imports no server module (only the PII guard and the OTLP endpoint resolver).
"""
