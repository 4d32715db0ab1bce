"""The vocabulary of Problem Details: the kinds of problem the API answers with, the error the HTTP edge
raises, the one table that maps each domain error to its kind, and the translation of pydantic's validation
errors into violations.

No web framework here: the pagination rules and the schemas the CLI verbs load import these without paying
for FastAPI (~0.25 s of every CLI process). Rendering and the framework's handlers live in ``problems``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from foundation import errors

PROBLEM_BASE = "https://iabank.local/problems/foundation/"


@dataclass(frozen=True)
class Kind:
    slug: str
    title: str
    status: int


class Kinds:
    validation = Kind("validation", "invalid_request", 400)
    idempotency_key_required = Kind("idempotency-key", "idempotency_key_required", 400)
    idempotency_key_invalid = Kind("idempotency-key", "idempotency_key_invalid", 400)
    tenant_header = Kind("tenant-header", "tenant_header_mismatch", 400)
    pagination = Kind("pagination", "invalid_pagination", 400)
    unauthenticated = Kind("authentication", "unauthenticated", 401)
    forbidden = Kind("authorization", "forbidden", 403)
    tenant_not_found = Kind("tenant", "tenant_not_found", 404)
    theme_not_found = Kind("tenant-theme", "tenant_theme_not_found", 404)
    not_found = Kind("not-found", "not_found", 404)
    method_not_allowed = Kind("method", "method_not_allowed", 405)
    idempotency_conflict = Kind("idempotency-replay", "idempotency_conflict", 409)
    feature_conflict = Kind("feature-conflict", "feature_already_registered", 409)
    theme_conflict = Kind("theme-conflict", "theme_version_conflict", 409)
    invalid_transition = Kind("lifecycle", "invalid_transition", 409)
    precondition = Kind("precondition", "precondition_failed", 412)
    payload_too_large = Kind("payload-too-large", "payload_too_large", 413)
    unsupported_media_type = Kind("media-type", "unsupported_media_type", 415)
    idempotency_mismatch = Kind("idempotency-mismatch", "idempotency_payload_mismatch", 422)
    rate_limit = Kind("rate-limit", "rate_limit_exceeded", 429)
    headers_too_large = Kind("headers-too-large", "request_header_fields_too_large", 431)
    internal = Kind("internal", "internal_error", 500)
    unavailable = Kind("unavailable", "service_unavailable", 503)
    timeout = Kind("timeout", "request_timeout", 503)


# Every domain error a service may raise → the problem kind the API answers with (a test checks each
# DomainError subclass has an entry; the most specific class wins).
DOMAIN_PROBLEMS: dict[type[errors.DomainError], Kind] = {
    errors.InvalidInput: Kinds.validation,
    errors.UnknownTenant: Kinds.tenant_not_found,
    errors.NotFound: Kinds.not_found,
    errors.ThemeNotFound: Kinds.theme_not_found,
    errors.FeatureAlreadyRegistered: Kinds.feature_conflict,
    errors.InvalidTransition: Kinds.invalid_transition,
    errors.IdempotencyKeyReused: Kinds.idempotency_mismatch,
    errors.IdempotencyInProgress: Kinds.idempotency_conflict,
    errors.ThemeVersionConflict: Kinds.theme_conflict,
    errors.Busy: Kinds.unavailable,
}


@dataclass
class Violation:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass
class ProblemError(Exception):
    kind: Kind
    detail: str
    violations: Sequence[Violation] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.kind.title}: {self.detail}"


def problem_of(exc: errors.DomainError) -> ProblemError:
    """The Problem a domain error answers with."""
    kind = next(DOMAIN_PROBLEMS[cls] for cls in type(exc).__mro__ if cls in DOMAIN_PROBLEMS)
    headers = {}
    if exc.location is not None:
        headers["Location"] = exc.location
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    violations = [Violation(item.field, item.message) for item in exc.errors]
    return ProblemError(kind, exc.detail, violations, headers)


# --- validation errors: pydantic locations become field paths ---------------------------------------

_PAGINATION_PARAMS = {"page", "page_size", "per_page"}


# Location parts pydantic adds for validator wrappers and for the members of a union (``int | float``).
_PYDANTIC_FRAMES = frozenset(
    {
        "function-after",
        "function-before",
        "function-wrap",
        "function-plain",
        "int",
        "float",
        "str",
        "bool",
        "bytes",
        "none",
        "list",
        "dict",
        "uuid",
        "datetime",
        "date",
        "decimal",
        "constrained-str",
        "constrained-int",
        "constrained-float",
        "lax-or-strict",
        "json-or-python",
        "is-instance",
        "enum",
        "literal",
    }
)


def field_path(location: Sequence[int | str]) -> str:
    """``('body', 'slices', 0, 'files', 1, 'checksum')`` → ``slices[0].files[1].checksum``."""
    parts = list(location)
    source = parts.pop(0) if parts and parts[0] in {"body", "query", "header", "path"} else None
    if source == "header" and parts:
        return "-".join(word.capitalize() for word in str(parts[0]).replace("_", "-").split("-"))
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in _PYDANTIC_FRAMES or "[" in str(part):
            continue  # pydantic validator frames and union member tags, not input fields
        else:
            path += ("." if path else "") + str(part)
    return path or "body"


def _violation_message(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


def violations_from(errors: Sequence[Mapping[str, Any]]) -> list[Violation]:
    seen: set[tuple[str, str]] = set()
    result = []
    for error in errors:
        item = Violation(field_path(error.get("loc", ())), _violation_message(error))
        if (item.field, item.message) not in seen:
            seen.add((item.field, item.message))
            result.append(item)
    return result


def validation_problem(errors: Sequence[Mapping[str, Any]]) -> ProblemError:
    locations = [tuple(e.get("loc", ())) for e in errors]
    if locations and all(
        len(loc) >= 2 and loc[0] == "query" and loc[1] in _PAGINATION_PARAMS for loc in locations
    ):
        return ProblemError(Kinds.pagination, "Invalid pagination parameters.", violations_from(errors))
    if any(e.get("type") == "json_invalid" for e in errors):
        return ProblemError(Kinds.validation, "The request body is not valid JSON.", violations_from(errors))
    return ProblemError(Kinds.validation, "The request is invalid.", violations_from(errors))
