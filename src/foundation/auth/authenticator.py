"""``FOUNDATION_AUTH=jwt``: bearer-token authentication, scope checks and tenant binding.

Order of answers on a secured route (the scope check is a route-level dependency, so it runs first):

1. no / invalid token → 401 ``unauthenticated`` with ``WWW-Authenticate: Bearer realm="iabank-foundation"``
   (plus ``error="invalid_token"`` when a token was sent);
2. token without any of the route's scopes → 403 ``forbidden`` (``error="insufficient_scope"``);
3. tenant resolution (404 unknown tenant, 400 header mismatch), then the tenant binding → 403 ``forbidden``;
4. rate limits.
"""

from __future__ import annotations

import structlog
from fastapi import Request

from foundation.auth.jwks import JwksSource, JwksUnavailable
from foundation.auth.scopes import PLATFORM_SCOPE
from foundation.auth.tokens import Principal, TokenError, TokenVerifier
from foundation.http.problem_kinds import Kinds, ProblemError
from foundation.settings import Profile, Settings
from foundation.tenancy.service import TenantRef

REALM = "iabank-foundation"
log = structlog.get_logger(component="foundation.auth")


class InsecureConfiguration(RuntimeError):
    """The settings must not be used to serve (e.g. production without authentication)."""


def security_problems(settings: Settings) -> list[str]:
    """Reasons the app must refuse to start with these settings (empty: fine)."""
    problems: list[str] = []
    jwt_mode = settings.auth.value == "jwt"
    if settings.profile is Profile.production:
        if not jwt_mode:
            problems.append("the production profile requires FOUNDATION_AUTH=jwt (authentication is off)")
        if settings.auth_hs256_secret:
            problems.append(
                "the production profile refuses FOUNDATION_AUTH_HS256_SECRET"
                " (shared secrets are for local use; use FOUNDATION_AUTH_JWKS)"
            )
    if jwt_mode:
        if not settings.auth_jwks and not settings.auth_hs256_secret:
            problems.append("FOUNDATION_AUTH=jwt needs FOUNDATION_AUTH_JWKS (file path or URL)")
        if settings.auth_hs256_secret and len(settings.auth_hs256_secret.encode("utf-8")) < 32:
            problems.append("FOUNDATION_AUTH_HS256_SECRET must be at least 32 bytes long")
        if not settings.auth_issuer or not settings.auth_audience:
            problems.append("FOUNDATION_AUTH_ISSUER and FOUNDATION_AUTH_AUDIENCE must not be empty")
    return problems


def check_security(settings: Settings, *, load_keys: bool = False) -> None:
    """Raise :class:`InsecureConfiguration` with every reason on one line; optionally load a JWKS file."""
    problems = security_problems(settings)
    if problems:
        raise InsecureConfiguration("; ".join(problems))
    if load_keys and settings.auth.value == "jwt" and settings.auth_jwks:
        try:
            jwks_source(settings).check_readable()
        except JwksUnavailable as exc:
            raise InsecureConfiguration(str(exc)) from exc


def jwks_source(settings: Settings) -> JwksSource:
    assert settings.auth_jwks  # noqa: S101  # type narrowing, checked by the caller
    return JwksSource(
        settings.auth_jwks,
        cache_seconds=settings.auth_jwks_cache_seconds,
        refetch_seconds=settings.auth_jwks_refetch_seconds,
    )


def challenge(error: str | None = None, scope: str | None = None) -> dict[str, str]:
    value = f'Bearer realm="{REALM}"'
    if error:
        value += f', error="{error}"'
    if scope:
        value += f', scope="{scope}"'
    return {"WWW-Authenticate": value}


class JwtAuthenticator:
    enforces = True
    binds_tenants = True

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtAuthenticator:
        check_security(settings)
        verifier = TokenVerifier(
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            leeway_seconds=settings.auth_leeway_seconds,
            jwks=jwks_source(settings) if settings.auth_jwks else None,
            hs256_secret=settings.auth_hs256_secret,
        )
        return cls(verifier)

    async def authorize(self, request: Request, any_of: tuple[str, ...]) -> None:
        principal = await self.authenticate(request)
        if any_of and not principal.scopes.intersection(any_of):
            needed = " ".join(any_of)
            raise ProblemError(
                Kinds.forbidden,
                f"The token lacks the scope this operation needs (one of: {', '.join(any_of)}).",
                headers=challenge("insufficient_scope", needed),
            )

    async def authenticate(self, request: Request) -> Principal:
        cached: Principal | None = getattr(request.state, "principal", None)
        if cached is not None:
            return cached
        header = request.headers.get("authorization")
        if not header:
            raise ProblemError(Kinds.unauthenticated, "A bearer token is required.", headers=challenge())
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise ProblemError(
                Kinds.unauthenticated, "Use the Bearer authentication scheme.", headers=challenge()
            )
        token = credentials.strip()
        if not token:
            raise ProblemError(
                Kinds.unauthenticated, "The bearer token is empty.", headers=challenge("invalid_token")
            )
        try:
            principal = await self.verifier.verify(token)
        except TokenError as exc:
            raise ProblemError(
                Kinds.unauthenticated,
                f"The bearer token is invalid: {exc}.",
                headers=challenge("invalid_token"),
            ) from None
        except JwksUnavailable:
            raise ProblemError(
                Kinds.unavailable, "Tokens cannot be verified right now.", headers={"Retry-After": "5"}
            ) from None
        request.state.principal = principal
        return principal

    async def check_tenant(self, request: Request, tenant: TenantRef | None) -> None:
        """May the caller act on ``tenant`` (None: platform-wide data such as global stories)?"""
        principal = await self.authenticate(request)
        if principal.tenant_id is None:
            if PLATFORM_SCOPE in principal.scopes:
                return
            raise ProblemError(
                Kinds.forbidden,
                f"The token is not bound to a tenant and lacks the {PLATFORM_SCOPE} scope.",
            )
        if tenant is None:
            raise ProblemError(
                Kinds.forbidden, "A tenant-bound token cannot act on platform-wide (global) data."
            )
        if tenant.id != principal.tenant_id:
            raise ProblemError(Kinds.forbidden, "The token is not allowed to act on this tenant.")
