"""JWT issue and verification, and the role guard every service puts on its routes.

Tokens are HS256 JWTs signed with HANSE_JWT_SECRET (shared by the gateway, which issues them,
and the services, which verify them). `admin` passes every role check.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hanse.events import utcnow
from hanse.settings import Settings, get_settings

ROLES = ("admin", "marketing", "sales", "compliance", "finance", "logistics", "partner")
ALGORITHM = "HS256"


class AuthError(Exception):
    """401: no token, or one that is not valid."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Forbidden(Exception):
    """403: a valid token without a role the route needs."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    kind: str = "user"  # "user" or "client" (partner app)

    def has_any(self, roles: tuple[str, ...]) -> bool:
        return "admin" in self.roles or bool(self.roles.intersection(roles))


def issue_token(
    subject: str,
    roles: list[str] | tuple[str, ...],
    settings: Settings | None = None,
    *,
    kind: str = "user",
    ttl_seconds: int | None = None,
) -> tuple[str, int]:
    settings = settings or get_settings()
    ttl = ttl_seconds if ttl_seconds is not None else settings.token_ttl_seconds
    now = utcnow()
    claims: dict[str, Any] = {
        "sub": subject,
        "roles": sorted(set(roles)),
        "kind": kind,
        "iss": settings.jwt_issuer,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=ttl),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.signing_secret(), algorithm=ALGORITHM), ttl


def verify_token(token: str, settings: Settings | None = None) -> Principal:
    settings = settings or get_settings()
    try:
        claims = jwt.decode(
            token,
            settings.signing_secret(),
            algorithms=[ALGORITHM],  # a fixed list: `alg: none` and key confusion are refused
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "iss"]},
            leeway=5,
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    roles = claims.get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise AuthError("invalid token: roles claim")
    return Principal(subject=str(claims["sub"]), roles=frozenset(roles), kind=str(claims.get("kind", "user")))


_bearer = HTTPBearer(auto_error=False, description="JWT from POST /api/v1/auth/token")


async def current_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError("missing bearer token")
    principal = verify_token(credentials.credentials, request.app.state.settings)
    request.state.principal = principal
    return principal


def require_roles(*roles: str) -> Any:
    """Dependency: a valid token carrying one of `roles` (or admin)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    async def guard(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.has_any(roles):
            raise Forbidden(f"requires one of the roles: {', '.join(roles)}")
        return principal

    return Depends(guard)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
