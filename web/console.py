"""The operations console, mounted by the gateway under /console/ (a gateway module: router, start, stop).

Sign-in, sign-out and the language switch live here; the pages live in `web/pages/`, one module
per area, each a `ConsoleRouter` included below. `GET /` on the gateway redirects here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from hanse.auth import TokenCache
from hanse.settings import Settings
from web import pages
from web.core import (
    LANG_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    TZ_COOKIE,
    Console,
    ConsoleRouter,
    PageNotFound,
    Viewer,
    anyone,
    form_of,
    page,
    safe_next,
    set_cookie,
    signing_in,
    templates_environment,
)
from web.i18n import LANGUAGES, N_, zone
from web.upstream import Upstream

STATIC = Path(__file__).resolve().parent / "static"

router = APIRouter(include_in_schema=False)
console_router = ConsoleRouter()

LOGIN_REASONS = {
    "expired": N_("Your session has ended. Please sign in again."),
    "signin": N_("Please sign in to open this page."),
    "signedout": N_("You have signed out."),
}


@router.get("/")
async def root() -> Response:
    return RedirectResponse(f"{PREFIX}/", status_code=307)


@router.get(PREFIX)
async def console_root() -> Response:
    return RedirectResponse(f"{PREFIX}/", status_code=307)


@console_router.get(f"{PREFIX}/login")
async def login_page(
    viewer: Annotated[Viewer, anyone()], next: str | None = None, reason: str | None = None
) -> Response:
    notice = LOGIN_REASONS.get(reason or "")
    return viewer.render(
        "login.html",
        {"next": safe_next(next), "notice": viewer.text(notice) if notice else None, "error": None, "values": {}},
    )


@console_router.post(f"{PREFIX}/login")
async def login(request: Request, viewer: Annotated[Viewer, signing_in()]) -> Response:
    form = await form_of(request)
    target = safe_next(form.get("next"))
    username, password = form.get("username", ""), form.get("password", "")
    if not username or not password:
        return viewer.render(
            "login.html",
            {
                "next": target,
                "notice": None,
                "error": viewer.text(N_("Enter your user name and password.")),
                "values": {"username": username},
            },
            status=400,
        )
    answer = await viewer.call(
        "POST", "/api/v1/auth/token", form={"grant_type": "password", "username": username, "password": password}
    )
    if not answer.ok:
        if answer.status == 429:
            message = viewer.text(N_("Too many sign-in attempts. Wait a minute and try again."))
        else:
            message = viewer.text(N_("The user name or password is not right."))
        return viewer.render(
            "login.html",
            {"next": target, "notice": None, "error": message, "values": {"username": username}},
            status=answer.status if answer.status in (400, 401, 429) else 400,
        )
    token = answer.json()
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, SESSION_COOKIE, token["access_token"], int(token["expires_in"]), secure=viewer.secure)
    set_cookie(response, TZ_COOKIE, zone(form.get("timezone")).key, 365 * 86400, secure=viewer.secure)
    viewer.finish(response)
    return response


@console_router.post(f"{PREFIX}/logout")
async def logout(viewer: Annotated[Viewer, signing_in()]) -> Response:
    response = RedirectResponse(f"{PREFIX}/login?reason=signedout", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


@console_router.post(f"{PREFIX}/language")
async def language(request: Request, viewer: Annotated[Viewer, signing_in()]) -> Response:
    form = await form_of(request)
    chosen = form.get("language")
    back = safe_next(form.get("back"))
    response = RedirectResponse(back, status_code=303)
    if chosen in LANGUAGES:
        set_cookie(response, LANG_COOKIE, chosen, 365 * 86400, secure=viewer.secure)
    viewer.finish(response)
    return response


for area in pages.AREAS:
    console_router.include_router(area.router)


@console_router.api_route(PREFIX + "/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
async def not_a_page(rest: str, viewer: Annotated[Viewer, page()]) -> Response:
    """Any other address or method under /console/: after sign-in, the console's 404 page (not problem+json)."""
    raise PageNotFound(N_("There is no such page."))


router.include_router(console_router)


async def start(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    app.state.console = Console(
        upstream=Upstream(app.state.proxy),
        settings=settings,
        tokens=TokenCache(settings),
        templates=templates_environment(),
        secure_cookies=settings.env == "prod",
    )


async def stop(app: FastAPI) -> None:
    """Nothing to stop: the console holds no connections of its own."""


def mount_static(app: FastAPI) -> None:
    """htmx, Chart.js and the console's own CSS and JS, served from the package (no CDN)."""
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")
