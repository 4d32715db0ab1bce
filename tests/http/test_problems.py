"""Every domain error a service may raise has its Problem kind in the one mapping table."""

from __future__ import annotations

import inspect

import pytest

from foundation import errors
from foundation.http.problem_kinds import DOMAIN_PROBLEMS, problem_of
from foundation.http.problems import status_of

DOMAIN_ERRORS = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, errors.DomainError) and cls is not errors.DomainError
]


@pytest.mark.parametrize("cls", DOMAIN_ERRORS, ids=[cls.__name__ for cls in DOMAIN_ERRORS])
def test_every_domain_error_is_mapped_explicitly(cls: type[errors.DomainError]) -> None:
    assert cls in DOMAIN_PROBLEMS, f"add {cls.__name__} to DOMAIN_PROBLEMS"


def test_the_most_specific_class_wins_and_details_travel() -> None:
    conflict = problem_of(
        errors.FeatureAlreadyRegistered("taken", location="/api/v1/tenants/t/features/scaffold/x")
    )
    assert (conflict.kind.title, conflict.kind.status) == ("feature_already_registered", 409)
    assert conflict.headers == {"Location": "/api/v1/tenants/t/features/scaffold/x"}
    assert problem_of(errors.ThemeNotFound("none")).kind.title == "tenant_theme_not_found"
    assert problem_of(errors.NotFound("none")).kind.title == "not_found"
    busy = problem_of(errors.Busy("retry", retry_after=1))
    assert (busy.kind.status, busy.headers) == (503, {"Retry-After": "1"})
    invalid = problem_of(errors.InvalidInput("bad", errors=[errors.FieldError("stories[0].tenantId", "no")]))
    assert [(v.field, v.message) for v in invalid.violations] == [("stories[0].tenantId", "no")]
    assert status_of(errors.IdempotencyKeyReused("other payload")) == 422
    assert status_of(RuntimeError("boom")) == 500
