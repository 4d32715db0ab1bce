"""Domain errors: what services raise when a business rule refuses an operation.

Services know nothing of HTTP. The HTTP edge maps each class to a Problem Details kind in one table
(``http.problem_kinds.DOMAIN_PROBLEMS``); a class without an entry there is a bug, caught by a test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One invalid input field: ``field`` is a path into the input (``slices[0].files[1].checksum``)."""

    field: str
    message: str


class DomainError(Exception):
    """Base class. ``detail`` is a sentence a client may read; ``location`` names an existing resource the
    error refers to (a conflict's existing registration); ``retry_after`` is set for transient refusals."""

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        location: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = tuple(errors)
        self.location = location
        self.retry_after = retry_after


class InvalidInput(DomainError):
    """The input breaks a rule the request schema cannot express (cross-field or stored-state checks)."""


class UnknownTenant(DomainError):
    """A tenant named in the input does not exist."""


class NotFound(DomainError):
    """The addressed resource does not exist."""


class ThemeNotFound(NotFound):
    """The tenant has no current theme."""


class FeatureAlreadyRegistered(DomainError):
    """The feature slug is registered for this tenant under another idempotency key."""


class InvalidTransition(DomainError):
    """A lifecycle event would move a feature's status backwards, or arrives after its publication."""


class IdempotencyKeyReused(DomainError):
    """The idempotency key was used before with a different payload."""


class IdempotencyInProgress(DomainError):
    """The request with this idempotency key has not settled (a concurrent writer kept winning)."""


class ThemeVersionConflict(DomainError):
    """The theme version exists with other content, or is being published concurrently."""


class Busy(DomainError):
    """Concurrent writers kept colliding; the client should retry shortly."""
