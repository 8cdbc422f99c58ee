"""Gateway identity: staff users and partner apps, argon2-hashed secrets, and the OAuth2 token endpoint.

POST /api/v1/auth/token issues HS256 JWTs for two grants: `password` (staff users, and the
bootstrap admin from HANSE_ADMIN_USER / HANSE_ADMIN_PASSWORD, which is never stored) and
`client_credentials` (partner apps, credentials in the form or as HTTP Basic). Admins manage
users and partner apps under /api/v1/auth/users and /api/v1/auth/clients.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
from typing import Annotated, Any
from urllib.parse import unquote

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, FastAPI, Form, Request
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from gateway.models.identity import (
    MIN_PASSWORD_LENGTH,
    ClientCreate,
    ClientCreated,
    ClientPublic,
    PartnerClient,
    Token,
    User,
    UserCreate,
    UserPublic,
)
from hanse.app import SessionDep
from hanse.auth import ROLES, Principal, issue_token, require_roles
from hanse.errors import Conflict, Invalid
from hanse.events import utcnow
from hanse.http import problem
from hanse.ids import new_id
from hanse.pagination import Cursor, Limit, Page, paginate
from hanse.privacy import pseudonym
from hanse.settings import Settings
from services.compliance.contract import PrivacyRequestOpened

router = APIRouter(tags=["auth"])

# argon2id with the library's RFC 9106 "low memory" defaults (64 MiB, t=3, p=4).
_hasher = PasswordHasher()
# Verified when a login names nobody, so an unknown name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

Admin = Annotated[Principal, require_roles("admin")]
GRANTS = ("password", "client_credentials")


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def verify_secret(stored_hash: str, secret: str) -> bool:
    try:
        return _hasher.verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return False


def check_roles(roles: list[str]) -> list[str]:
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise Invalid(f"unknown roles {unknown}; known roles are {', '.join(ROLES)}", field="roles")
    return sorted(set(roles))


# -- token endpoint --------------------------------------------------------------------------------


def oauth_error(status: int, error: str, detail: str, *, field: str | None = None, basic: bool = False) -> Response:
    """RFC 9457 problem carrying the RFC 6749 `error` code; 401s say how to authenticate."""
    challenge = 'Basic realm="hanse"' if basic else 'Bearer realm="hanse"'
    return problem(
        status,
        detail,
        slug=error.replace("_", "-"),
        error=error,
        field=field,
        headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"} if status == 401 else None,
    )


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """client_id and client_secret from `Authorization: Basic` (RFC 6749 §2.3.1: form-urlencoded parts)."""
    if not authorization or not authorization[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, client_secret = decoded.partition(":")
    if not sep:
        return None
    return unquote(client_id), unquote(client_secret)


def _issued(subject: str, roles: list[str], settings: Settings, kind: str) -> Token:
    access_token, ttl = issue_token(subject, roles, settings, kind=kind)
    return Token(access_token=access_token, expires_in=ttl)


@router.post(
    "/api/v1/auth/token",
    response_model=Token,
    summary="OAuth2 token: password grant for staff, client_credentials grant for partner apps",
    responses={
        400: {"description": "unsupported grant_type (`error`: unsupported_grant_type)"},
        401: {"description": "wrong credentials (`error`: invalid_grant or invalid_client)"},
        422: {"description": "a field the grant needs is missing"},
    },
)
async def token(
    request: Request,
    session: SessionDep,
    grant_type: Annotated[
        str | None, Form(max_length=100, description="password (default) or client_credentials")
    ] = None,
    username: Annotated[str | None, Form(max_length=200)] = None,
    password: Annotated[str | None, Form(max_length=1000)] = None,
    client_id: Annotated[str | None, Form(max_length=200)] = None,
    client_secret: Annotated[str | None, Form(max_length=1000)] = None,
    scope: Annotated[str | None, Form(max_length=1000, description="ignored: roles decide access")] = None,
) -> Any:
    settings: Settings = request.app.state.settings
    grant = grant_type or "password"  # form logins that predate the grant_type field
    if grant == "password":
        user, secret = _required(grant, username=username, password=password)
        issued = await _password_grant(session, settings, user, secret)
        if issued is None:
            return oauth_error(401, "invalid_grant", "wrong username or password")
    elif grant == "client_credentials":
        basic = basic_credentials(request.headers.get("authorization"))
        if basic is not None and (client_id or client_secret):
            return oauth_error(400, "invalid_request", "send client credentials either as Basic or in the form")
        cid, csecret = basic if basic is not None else (client_id, client_secret)
        cid, csecret = _required(grant, client_id=cid, client_secret=csecret)
        issued = await _client_grant(session, settings, cid, csecret)
        if issued is None:
            return oauth_error(401, "invalid_client", "unknown client or wrong secret", basic=basic is not None)
    else:
        return oauth_error(
            400,
            "unsupported_grant_type",
            f"grant_type must be one of {', '.join(GRANTS)}, not {grant!r}",
            field="grant_type",
        )
    return Response(issued.model_dump_json(), media_type="application/json", headers={"Cache-Control": "no-store"})


def _required(grant: str, **fields: str | None) -> tuple[str, ...]:
    """The form fields a grant needs, in order; a 422 naming the first one that is missing."""
    for name, value in fields.items():
        if not value:
            raise Invalid(f"{name} is required for the {grant} grant", field=name)
    return tuple(value for value in fields.values() if value)


async def _password_grant(session: AsyncSession, settings: Settings, username: str, password: str) -> Token | None:
    admin_user, admin_password = settings.admin_login()
    if secrets.compare_digest(username.encode(), admin_user.encode()):
        # The bootstrap admin lives in the environment (or the dev data dir), not in the database.
        if secrets.compare_digest(password.encode(), admin_password.encode()):
            return _issued(username, ["admin"], settings, "user")
        return None
    user = (await session.exec(select(User).where(User.username == username))).first()
    stored = user.password_hash if user is not None else _DUMMY_HASH
    # argon2 takes tens of milliseconds of CPU: keep the event loop free for other requests.
    ok = await asyncio.to_thread(verify_secret, stored, password)
    if user is None or not ok:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = await asyncio.to_thread(hash_secret, password)
        session.add(user)
        await session.commit()
    return _issued(user.username, user.roles, settings, "user")


async def _client_grant(session: AsyncSession, settings: Settings, client_id: str, secret: str) -> Token | None:
    client = (await session.exec(select(PartnerClient).where(PartnerClient.client_id == client_id))).first()
    stored = client.secret_hash if client is not None else _DUMMY_HASH
    ok = await asyncio.to_thread(verify_secret, stored, secret)
    if client is None or not ok:
        return None
    return _issued(client.client_id, client.roles, settings, "client")


# -- users -----------------------------------------------------------------------------------------


def user_public(user: User) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)


@router.post(
    "/api/v1/auth/users",
    status_code=201,
    summary="Create a staff user with roles (admin only)",
    responses={409: {"description": "the username is taken"}, 422: {"description": "weak password or unknown role"}},
)
async def create_user(body: UserCreate, request: Request, session: SessionDep, admin: Admin) -> UserPublic:
    roles = check_roles(body.roles)
    if len(body.password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"password must be at least {MIN_PASSWORD_LENGTH} characters", field="password")
    if body.password == body.username:
        raise Invalid("password must not be the username", field="password")
    settings: Settings = request.app.state.settings
    if body.username == settings.admin_user:
        raise Conflict(f"username {body.username!r} is the bootstrap admin", field="username")
    if (await session.exec(select(User.id).where(User.username == body.username))).first() is not None:
        raise Conflict(f"username {body.username!r} is taken", field="username")
    user = User(
        id=new_id("usr"),
        username=body.username,
        password_hash=await asyncio.to_thread(hash_secret, body.password),
        roles=roles,
        created_at=utcnow(),
        created_by=admin.subject,
    )
    session.add(user)
    try:
        await session.commit()
    except IntegrityError:  # a concurrent request took the name between the check and the insert
        await session.rollback()
        raise Conflict(f"username {body.username!r} is taken", field="username") from None
    return user_public(user)


@router.get("/api/v1/auth/users", summary="Staff users by username (admin only)")
async def list_users(session: SessionDep, _: Admin, cursor: Cursor = None, limit: Limit = 50) -> Page[UserPublic]:
    page = await paginate(session, select(User), User.username, cursor, limit)
    return page.map(user_public)


# -- partner apps ----------------------------------------------------------------------------------


def client_public(client: PartnerClient) -> ClientPublic:
    return ClientPublic.model_validate(client, from_attributes=True)


@router.post(
    "/api/v1/auth/clients",
    status_code=201,
    response_model=ClientCreated,
    summary="Register a partner app; the answer holds its client_secret, shown only this once (admin only)",
    responses={422: {"description": "unknown role"}},
)
async def create_client(body: ClientCreate, session: SessionDep, admin: Admin) -> Response:
    roles = check_roles(body.roles)
    secret = secrets.token_urlsafe(32)
    client = PartnerClient(
        id=new_id("cli"),
        client_id=f"hc_{secrets.token_hex(12)}",
        name=body.name,
        secret_hash=await asyncio.to_thread(hash_secret, secret),
        roles=roles,
        created_at=utcnow(),
        created_by=admin.subject,
    )
    session.add(client)
    await session.commit()
    created = ClientCreated(**client_public(client).model_dump(), client_secret=secret)
    # The secret must not linger in caches between the admin and the gateway.
    return Response(
        created.model_dump_json(), status_code=201, media_type="application/json", headers={"Cache-Control": "no-store"}
    )


@router.get("/api/v1/auth/clients", summary="Partner apps, oldest first (admin only; secrets are never shown)")
async def list_clients(session: SessionDep, _: Admin, cursor: Cursor = None, limit: Limit = 50) -> Page[ClientPublic]:
    page = await paginate(session, select(PartnerClient), PartnerClient.id, cursor, limit)
    return page.map(client_public)


async def answer_privacy_request(session: AsyncSession, settings: Settings, opened: PrivacyRequestOpened) -> Any:
    """The gateway's part of a data-subject request: staff users whose username is that address.

    Access exports them (never the password hash); erasure pseudonymises the username, drops the
    roles and makes the password unusable, so the account can no longer log in. Partner clients
    are organisations, not persons, and are not searched.
    """
    from gateway.contract import PrivacyAnswered

    email = opened.email.strip().lower()
    users = [u for u in (await session.exec(select(User))).all() if u.username.strip().lower() == email]
    fields: dict[str, Any] = {"request_id": opened.request_id, "kind": opened.kind, "department": "gateway"}
    if opened.kind == "access":
        export = {
            "users": [
                {"id": u.id, "username": u.username, "roles": u.roles, "created_at": u.created_at.isoformat()}
                for u in users
            ]
        }
        return PrivacyAnswered(**fields, records=len(users), export=export)
    for user in users:
        user.username = pseudonym(email, settings.signing_secret()) + f"#{user.id}"
        user.roles = []
        user.password_hash = "!erased"  # never a valid argon2 hash: verify_secret refuses it
        session.add(user)
    return PrivacyAnswered(**fields, records=len(users), pseudonymised=len(users))


async def start(app: FastAPI) -> None:
    """Nothing to start: the tables are created with the gateway's database."""


async def stop(app: FastAPI) -> None:
    """Nothing to stop."""
