"""Admin: staff users, partner apps and partner webhooks (the gateway's own APIs, admin only).

Users and partner apps are the gateway's identity API (`/api/v1/auth/users`, `/api/v1/auth/clients`);
webhooks are `/api/v1/webhooks`: an endpoint page shows its recent deliveries and can re-enable the
endpoint, rotate its signing secret and redeliver a failed delivery. A secret (a partner app's, or a
webhook's after rotation) is shown once, on the page that answers the change, and never again.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request
from starlette.responses import Response

from hanse.auth import ROLES
from web.core import PREFIX, ConsoleRouter, Refused, Viewer, action, form_of, page
from web.i18n import N_
from web.nav import section

router = ConsoleRouter()

ADMIN = ("admin",)
USERS = section("admin-users", f"{PREFIX}/admin/users", N_("Users"), roles=ADMIN)
APPS = section("admin-apps", f"{PREFIX}/admin/apps", N_("Partner apps"), roles=ADMIN)
WEBHOOKS = section("admin-webhooks", f"{PREFIX}/admin/webhooks", N_("Webhooks"), roles=ADMIN)

PAGE_SIZE = 25
Cursor = Annotated[str | None, Query(max_length=200)]
Id = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$")]
EndpointStatus = Literal["active", "disabled"]
DeliveryState = Literal["pending", "retrying", "delivered", "failed"]

ROLE_LABELS = {
    "admin": N_("Administrator"),
    "marketing": N_("Marketing"),
    "sales": N_("Sales and support"),
    "compliance": N_("Compliance"),
    "finance": N_("Finance"),
    "logistics": N_("Logistics"),
    "procurement": N_("Procurement"),
    "partner": N_("Partner app"),
}
STATUS_LABELS = {
    "active": N_("enabled"),
    "disabled": N_("disabled"),
    "pending": N_("pending"),
    "retrying": N_("retrying"),
    "delivered": N_("delivered"),
    "failed": N_("failed"),
}


def role_options(viewer: Viewer) -> list[tuple[str, str]]:
    return [(role, viewer.text(ROLE_LABELS.get(role, role))) for role in ROLES]


def labels(viewer: Viewer) -> dict[str, Any]:
    return {
        "role_label": lambda role: viewer.text(ROLE_LABELS.get(role, role)),
        "status_label": lambda status: viewer.text(STATUS_LABELS.get(status, status)),
    }


def form_errors(refused: Refused) -> tuple[dict[str, str], str | None]:
    """Field → message for the form (list items such as `roles.0` go to their list), and the
    API's detail when it names no field of the form."""
    errors: dict[str, str] = {}
    for name, message in refused.fields().items():
        errors.setdefault(name.split(".", 1)[0], message)
    return errors, (None if errors else refused.detail)


async def chosen_roles(request: Request) -> list[str]:
    return [r for r in (await request.form()).getlist("roles") if isinstance(r, str)]


# -- users ------------------------------------------------------------------------------------------------


@router.get(USERS.path)
async def users(viewer: Annotated[Viewer, page(*USERS.roles)], cursor: Cursor = None) -> Response:
    return await users_page(viewer, cursor)


async def users_page(
    viewer: Viewer,
    cursor: str | None = None,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    listing = await viewer.get("/api/v1/auth/users", cursor=cursor, limit=PAGE_SIZE)
    return viewer.render(
        "admin/users.html",
        {
            "listing": listing,
            "role_options": role_options(viewer),
            "errors": errors or {},
            "values": values or {"roles": []},
            "problem": problem,
            **labels(viewer),
        },
        status=status,
        partial="admin/_users_rows.html",
    )


@router.post(USERS.path)
async def create_user(request: Request, viewer: Annotated[Viewer, action(*USERS.roles)]) -> Response:
    form = await form_of(request)
    roles = await chosen_roles(request)
    values = {"username": form.get("username", ""), "roles": roles}
    try:
        created = await viewer.send(
            "POST",
            "/api/v1/auth/users",
            json={"username": values["username"], "password": form.get("password", ""), "roles": roles},
        )
    except Refused as refused:
        errors, problem = form_errors(refused)
        return await users_page(viewer, errors=errors, values=values, problem=problem, status=refused.answer.status)
    return viewer.redirect(USERS.path, flash=N_("User %(username)s created."), username=created["username"])


# -- partner apps ---------------------------------------------------------------------------------------------


@router.get(APPS.path)
async def apps(viewer: Annotated[Viewer, page(*APPS.roles)], cursor: Cursor = None) -> Response:
    return await apps_page(viewer, cursor)


async def apps_page(
    viewer: Viewer,
    cursor: str | None = None,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    problem: str | None = None,
    created: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    listing = await viewer.get("/api/v1/auth/clients", cursor=cursor, limit=PAGE_SIZE)
    return viewer.render(
        "admin/apps.html",
        {
            "listing": listing,
            "role_options": role_options(viewer),
            "errors": errors or {},
            "values": values or {"roles": ["partner"]},
            "problem": problem,
            "created": created,
            **labels(viewer),
        },
        status=status,
        partial="admin/_apps_rows.html",
    )


@router.post(APPS.path)
async def create_app(request: Request, viewer: Annotated[Viewer, action(*APPS.roles)]) -> Response:
    form = await form_of(request)
    roles = await chosen_roles(request)
    values = {"name": form.get("name", ""), "roles": roles}
    try:
        created = await viewer.send("POST", "/api/v1/auth/clients", json={"name": values["name"], "roles": roles})
    except Refused as refused:
        errors, problem = form_errors(refused)
        return await apps_page(viewer, errors=errors, values=values, problem=problem, status=refused.answer.status)
    # The secret is in this answer only: shown on this page, never stored by the console.
    return await apps_page(viewer, created=created, status=201)


# -- webhooks -----------------------------------------------------------------------------------------------------


@router.get(WEBHOOKS.path)
async def webhooks(
    viewer: Annotated[Viewer, page(*WEBHOOKS.roles)],
    status: Annotated[EndpointStatus | None, Query()] = None,
    cursor: Cursor = None,
) -> Response:
    listing = await viewer.get("/api/v1/webhooks", status=status, cursor=cursor, limit=PAGE_SIZE)
    return viewer.render(
        "admin/webhooks.html",
        {"listing": listing, "status": status, **labels(viewer)},
        partial="admin/_webhooks_rows.html",
    )


@router.get(WEBHOOKS.path + "/{endpoint_id}")
async def webhook(
    endpoint_id: Id,
    viewer: Annotated[Viewer, page(*WEBHOOKS.roles)],
    state: Annotated[DeliveryState | None, Query()] = None,
    cursor: Cursor = None,
) -> Response:
    return await webhook_page(viewer, endpoint_id, state=state, cursor=cursor)


async def webhook_page(
    viewer: Viewer,
    endpoint_id: str,
    *,
    state: str | None = None,
    cursor: str | None = None,
    secret: str | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    path = f"/api/v1/webhooks/{endpoint_id}"
    endpoint, deliveries = await asyncio.gather(
        viewer.get(path), viewer.get(f"{path}/messages", state=state, cursor=cursor, limit=PAGE_SIZE)
    )
    return viewer.render(
        "admin/webhook.html",
        {
            "endpoint": endpoint,
            "deliveries": deliveries,
            "state": state,
            "states": list(STATUS_LABELS)[2:],
            "secret": secret,
            "problem": problem,
            **labels(viewer),
        },
        status=status,
        partial="admin/_deliveries.html",
    )


@router.post(WEBHOOKS.path + "/{endpoint_id}/enable")
async def enable_webhook(endpoint_id: Id, viewer: Annotated[Viewer, action(*WEBHOOKS.roles)]) -> Response:
    try:
        await viewer.send("POST", f"/api/v1/webhooks/{endpoint_id}/enable")
    except Refused as refused:
        return await webhook_page(viewer, endpoint_id, problem=refused.detail, status=refused.answer.status)
    return viewer.redirect(f"{WEBHOOKS.path}/{endpoint_id}", flash=N_("The webhook is enabled again."))


@router.post(WEBHOOKS.path + "/{endpoint_id}/rotate-secret")
async def rotate_secret(endpoint_id: Id, viewer: Annotated[Viewer, action(*WEBHOOKS.roles)]) -> Response:
    try:
        rotated = await viewer.send("POST", f"/api/v1/webhooks/{endpoint_id}/rotate-secret")
    except Refused as refused:
        return await webhook_page(viewer, endpoint_id, problem=refused.detail, status=refused.answer.status)
    # Shown on this answer only; reloading the endpoint page does not show it again.
    return await webhook_page(viewer, endpoint_id, secret=rotated["secret"])


@router.post(WEBHOOKS.path + "/{endpoint_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(endpoint_id: Id, delivery_id: Id, viewer: Annotated[Viewer, action(*WEBHOOKS.roles)]) -> Response:
    try:
        await viewer.send("POST", f"/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver")
    except Refused as refused:
        return await webhook_page(viewer, endpoint_id, problem=refused.detail, status=refused.answer.status)
    return viewer.redirect(
        f"{WEBHOOKS.path}/{endpoint_id}", flash=N_("Delivery %(delivery)s is queued again."), delivery=delivery_id
    )
