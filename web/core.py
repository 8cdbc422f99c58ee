"""The console's one shape: who is looking (`Viewer`), how a page renders, and how a page fails.

Every page is a FastAPI route on a `ConsoleRouter` and gets a `Viewer` from `page(...)` (a GET) or
`action(...)` (a POST: the CSRF token is checked first). The viewer calls the APIs with the user's
token (`viewer.get`, `viewer.call`) and renders templates in the user's language and zone
(`viewer.render`). A page never answers with a stack trace: `ConsoleRoute` turns every failure
into a page in the user's language (sign-in again, not allowed, not found, bad input, a department
that did not answer, or an error with its request id).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hanse.auth import AuthError, Principal, TokenCache
from hanse.settings import Settings
from web.i18n import LANGUAGE_NAMES, LANGUAGES, N_, Formats, negotiate, translations
from web.upstream import Answer, Call, Upstream

log = logging.getLogger("hanse.console")

PREFIX = "/console"
SESSION_COOKIE = "hanse_session"
CSRF_COOKIE = "hanse_csrf"
LANG_COOKIE = "hanse_lang"
TZ_COOKIE = "hanse_tz"
FLASH_COOKIE = "hanse_flash"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
TEMPLATES = Path(__file__).resolve().parent / "templates"

# No inline script or style, no other origin: the console's own files only.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


# -- failures ----------------------------------------------------------------------------------------


class ConsoleProblem(Exception):
    """A page that cannot be shown: `title` and `message` are msgids, translated when rendered."""

    status = 400
    title = N_("The request could not be handled")

    def __init__(self, message: str, detail: str | None = None, **params: Any) -> None:
        super().__init__(message)
        self.message, self.detail, self.params = message, detail, params


class NotAllowed(ConsoleProblem):
    status = 403
    title = N_("Not allowed")


class CsrfRefused(ConsoleProblem):
    status = 403
    title = N_("The form could not be accepted")


class PageNotFound(ConsoleProblem):
    status = 404
    title = N_("Not found")


class DepartmentDown(ConsoleProblem):
    status = 503
    title = N_("A department did not answer")


class SignIn(Exception):
    """The user must sign in (again): no session, or one that expired or no longer verifies."""

    def __init__(self, reason: str = "signin") -> None:
        super().__init__(reason)
        self.reason = reason


class Refused(Exception):
    """An API refused a form's values (4xx): the page shows the detail next to the fields."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer
        self.problem = answer.problem

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or f"refused ({self.answer.status})")

    def fields(self) -> dict[str, str]:
        """Field name → message, from the problem's `errors` list and its `field`."""
        found: dict[str, str] = {}
        for error in self.problem.get("errors") or ():
            if isinstance(error, dict) and error.get("field"):
                name = str(error["field"])
                found.setdefault(name, str(error.get("message") or self.detail))
                found.setdefault(name.rsplit(".", 1)[-1], str(error.get("message") or self.detail))
        if self.problem.get("field"):
            name = str(self.problem["field"])
            found.setdefault(name, self.detail)
            found.setdefault(name.rsplit(".", 1)[-1], self.detail)
        return found


# -- the console's state -------------------------------------------------------------------------------


@dataclass
class Console:
    upstream: Upstream
    settings: Settings
    tokens: TokenCache
    templates: jinja2.Environment
    secure_cookies: bool


def templates_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["json.dumps_function"] = lambda value, **_: orjson.dumps(value, default=str).decode()

    # One environment for every request: gettext finds the request's language in the context.
    @jinja2.pass_context
    def gettext(context: Any, message: str) -> str:
        return translations(context["language"]).gettext(message)

    @jinja2.pass_context
    def ngettext(context: Any, singular: str, plural: str, n: int) -> str:
        return translations(context["language"]).ngettext(singular, plural, n)

    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    return env


def console_of(request: Request) -> Console:
    return request.app.state.console


# -- who is looking -------------------------------------------------------------------------------------


@dataclass
class Viewer:
    request: Request
    console: Console
    principal: Principal | None
    token: str | None
    language: str
    zone_name: str
    csrf_seed: str
    cookies_to_set: dict[str, str] = field(default_factory=dict)
    drop_session: bool = False

    @property
    def secure(self) -> bool:
        """Secure cookies in production and whenever the browser came over TLS."""
        return self.console.secure_cookies or self.request.url.scheme == "https"

    @property
    def formats(self) -> Formats:
        return Formats(self.language, self.zone_name)

    @property
    def csrf_token(self) -> str:
        return csrf_token_for(self.console.settings, self.csrf_seed)

    def text(self, message: str) -> str:
        """`message` (a msgid marked with N_) in the viewer's language."""
        return translations(self.language).gettext(message)

    def allowed(self, roles: tuple[str, ...]) -> bool:
        """Any signed-in user passes an empty tuple; admin passes everything."""
        if self.principal is None:
            return False
        return not roles or self.principal.has_any(roles)

    def require(self, roles: tuple[str, ...]) -> None:
        if self.principal is None:
            raise SignIn()
        if not self.allowed(roles):
            raise NotAllowed(N_("This page needs one of the roles: %(roles)s."), roles=", ".join(sorted(roles)))

    # -- the APIs, as this user --------------------------------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """Any answer but 401 (sign in again) and 5xx (the department is down) comes back as is."""
        client = self.request.client
        answer = await self.console.upstream.send(
            Call(method, path, self.token, params, json, form, headers or {}),
            client=(client.host, client.port) if client else ("127.0.0.1", 0),
            request_id=self.request.scope.get("state", {}).get("request_id"),
        )
        if answer.status == 401 and self.token is not None:
            raise SignIn("expired")
        if answer.status >= 500:
            raise DepartmentDown(
                N_("The department behind this page did not answer. Try again in a moment."),
                detail=str(answer.problem.get("detail") or answer.status),
            )
        return answer

    def stream(self, path: str, *, headers: Mapping[str, str] | None = None, **params: Any) -> Any:
        """`async with viewer.stream(path) as (status, headers, chunks)`: a never-ending GET (SSE);
        `headers` adds request headers (e.g. Last-Event-ID to resume)."""
        client = self.request.client
        return self.console.upstream.stream(
            Call("GET", path, self.token, params, headers={"Accept": "text/event-stream", **(headers or {})}),
            client=(client.host, client.port) if client else ("127.0.0.1", 0),
            request_id=self.request.scope.get("state", {}).get("request_id"),
        )

    async def get(self, path: str, **params: Any) -> Any:
        """The JSON of a GET that must succeed (403 and 404 become pages, 422 a bad-filter page)."""
        answer = await self.call("GET", path, params=params)
        if answer.status == 403:
            raise NotAllowed(N_("Your roles do not allow this."), detail=str(answer.problem.get("detail") or ""))
        if answer.status == 404:
            raise PageNotFound(N_("Nothing was found here."), detail=str(answer.problem.get("detail") or ""))
        if not answer.ok:
            raise ConsoleProblem(N_("A filter value was not accepted."), detail=str(answer.problem.get("detail") or ""))
        return answer.json()

    async def send(self, method: str, path: str, *, json: Any = None, form: Mapping[str, str] | None = None) -> Any:
        """A change: 2xx returns the JSON; 403 becomes a page; another 4xx raises `Refused` for the form."""
        answer = await self.call(method, path, json=json, form=form)
        if answer.status == 403:
            raise NotAllowed(N_("Your roles do not allow this."), detail=str(answer.problem.get("detail") or ""))
        if not answer.ok:
            raise Refused(answer)
        return answer.json()

    # -- pages ---------------------------------------------------------------------------------------

    def render(
        self, template: str, context: Mapping[str, Any] | None = None, *, status: int = 200, partial: str | None = None
    ) -> HTMLResponse:
        """`template` (a full page), or `partial` when htmx asks for a fragment of it."""
        name = partial if partial is not None and self.is_htmx else template
        body = self.console.templates.get_template(name).render(self.context(context))
        response = HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)
        self.finish(response)
        if FLASH_COOKIE in self.request.cookies and name == template:
            response.delete_cookie(FLASH_COOKIE, path=PREFIX)
        return response

    @property
    def is_htmx(self) -> bool:
        return self.request.headers.get("hx-request") == "true" and self.request.headers.get("hx-boosted") != "true"

    def context(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        from web.nav import visible_sections  # the nav knows the pages; the pages know this module

        formats = self.formats
        return {
            "viewer": self,
            "user": self.principal.subject if self.principal else None,
            "roles": sorted(self.principal.roles) if self.principal else [],
            "nav": visible_sections(self),
            "path": self.request.url.path,
            "query": dict(self.request.query_params),
            "language": self.language,
            "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
            "zone": formats.zone.key,
            "csrf_token": self.csrf_token,
            "csrf_field": CSRF_FIELD,
            "flash": self.flash(),
            "money": formats.money,
            "number": formats.number,
            "when": formats.when,
            "day": formats.day,
            "url_with": self.url_with,
            "errors": {},
            "values": {},
            **(extra or {}),
        }

    def flash(self) -> str | None:
        raw = self.request.cookies.get(FLASH_COOKIE)
        if not raw:
            return None
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(message, dict) or not isinstance(message.get("m"), str):
            return None
        params = message.get("p") if isinstance(message.get("p"), dict) else {}
        text = self.text(message["m"])
        try:
            return text % {k: str(v) for k, v in params.items()} if params else text
        except (KeyError, ValueError, TypeError):
            return text

    def url_with(self, **changes: Any) -> str:
        """This page's address with some query values changed (None drops one): filters, pages."""
        query = {k: v for k, v in self.request.query_params.items() if k not in changes and k != "cursor"}
        query.update({k: v for k, v in changes.items() if v not in (None, "")})
        return self.request.url.path + ("?" + urlencode(query) if query else "")

    def finish(self, response: Response) -> None:
        for name, value in self.cookies_to_set.items():
            set_cookie(response, name, value, secure=self.secure)
        if self.drop_session:
            response.delete_cookie(SESSION_COOKIE, path=PREFIX)

    def redirect(self, path: str, *, flash: str | None = None, **params: Any) -> Response:
        """303 to `path` after a change (an htmx request is redirected with HX-Redirect)."""
        if self.is_htmx:
            response: Response = Response(status_code=204, headers={"HX-Redirect": path})
        else:
            response = RedirectResponse(path, status_code=303)
        if flash:
            set_cookie(response, FLASH_COOKIE, orjson.dumps({"m": flash, "p": params}).decode(), 60, secure=self.secure)
        self.finish(response)
        return response


def download(body: bytes, filename: str, media_type: str = "application/pdf") -> Response:
    """A document an API answered, handed on to the browser as a file (the name reduced to safe characters)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{safe}"'}
    return Response(body, media_type=media_type, headers=headers)


def set_cookie(response: Response, name: str, value: str, max_age: int | None = None, *, secure: bool) -> None:
    """Every console cookie: HttpOnly, SameSite=Strict, Secure behind TLS, only under /console."""
    response.set_cookie(name, value, max_age=max_age, path=PREFIX, httponly=True, samesite="strict", secure=secure)


def csrf_token_for(settings: Settings, seed: str) -> str:
    return hmac.new(settings.signing_secret().encode(), b"console-csrf:" + seed.encode(), hashlib.sha256).hexdigest()


def _viewer(request: Request, *, session: bool = True) -> Viewer:
    """The viewer of a request. A session that no longer verifies raises `SignIn`, or with
    `session=False` (the sign-in and error pages) is dropped."""
    console = console_of(request)
    cookies = request.cookies
    language = cookies.get(LANG_COOKIE)
    if language not in LANGUAGES:
        language = negotiate(request.headers.get("accept-language"))
    token = cookies.get(SESSION_COOKIE) or None
    principal = None
    if token is not None:
        try:
            principal = console.tokens.principal(token)
        except AuthError:
            principal = None
    seed = cookies.get(CSRF_COOKIE) or ""
    viewer = Viewer(
        request=request,
        console=console,
        principal=principal,
        token=token if principal is not None else None,
        language=language,
        zone_name=cookies.get(TZ_COOKIE) or "UTC",
        csrf_seed=seed,
    )
    if len(seed) < 32:
        viewer.csrf_seed = secrets.token_urlsafe(32)
        viewer.cookies_to_set[CSRF_COOKIE] = viewer.csrf_seed
    if token is not None and principal is None:
        if session:
            raise SignIn("expired")
        viewer.drop_session = True
    return viewer


def page(*roles: str) -> Any:
    """Dependency for a page (GET): a signed-in viewer with one of `roles` (none: any signed-in user)."""

    async def dependency(request: Request) -> Viewer:
        viewer = _viewer(request)
        viewer.require(roles)
        return viewer

    return Depends(dependency)


def action(*roles: str) -> Any:
    """Dependency for a change (POST): the CSRF token must match before anything else happens."""

    async def dependency(request: Request) -> Viewer:
        viewer = _viewer(request)
        await check_csrf(request, viewer)
        viewer.require(roles)
        return viewer

    return Depends(dependency)


def signing_in() -> Any:
    """Dependency for the forms before sign-in (sign-in, language, sign-out): CSRF checked, no session asked."""

    async def dependency(request: Request) -> Viewer:
        viewer = _viewer(request, session=False)
        await check_csrf(request, viewer)
        return viewer

    return Depends(dependency)


def anyone() -> Any:
    """Dependency for the pages before sign-in (the sign-in page itself)."""

    async def dependency(request: Request) -> Viewer:
        try:
            return _viewer(request)
        except SignIn:
            return _viewer(request, session=False)

    return Depends(dependency)


async def check_csrf(request: Request, viewer: Viewer) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if CSRF_COOKIE in viewer.cookies_to_set or not sent or not hmac.compare_digest(sent, viewer.csrf_token):
        raise CsrfRefused(
            N_(
                "The form had expired or did not come from this console; nothing was changed. "
                "Reload the page and try again."
            )
        )


async def form_of(request: Request) -> dict[str, str]:
    """The posted form's text fields, trimmed (files and the CSRF token left out)."""
    form = await request.form()
    return {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != CSRF_FIELD}


# -- failures as pages -------------------------------------------------------------------------------------


def _failure_viewer(request: Request) -> Viewer:
    try:
        return _viewer(request)
    except SignIn:
        return _viewer(request, session=False)


def failure_page(request: Request, exc: Exception) -> Response:
    if isinstance(exc, SignIn):
        target = f"{PREFIX}/login?" + urlencode({"next": _same_console_path(request), "reason": exc.reason})
        if request.headers.get("hx-request") == "true":
            response: Response = Response(status_code=204, headers={"HX-Redirect": target})
        else:
            response = RedirectResponse(target, status_code=303)
        if exc.reason == "expired":
            response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response
    viewer = _failure_viewer(request)
    if isinstance(exc, ConsoleProblem):
        status, title, message, detail, params = exc.status, exc.title, exc.message, exc.detail, exc.params
    elif isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "?"
        status, title = 400, ConsoleProblem.title
        message, detail = N_("The value of %(field)s was not accepted."), str(first.get("msg", ""))
        params = {"field": where}
    elif isinstance(exc, StarletteHTTPException) and exc.status_code == 404:
        status, title, message, detail, params = 404, PageNotFound.title, N_("There is no such page."), None, {}
    elif isinstance(exc, StarletteHTTPException) and exc.status_code < 500:
        status, title = exc.status_code, ConsoleProblem.title
        message, detail, params = N_("The request could not be handled."), str(exc.detail), {}
    else:
        log.exception("console page failed: %s %s", request.method, request.url.path, exc_info=exc)
        status, title, message, detail, params = (
            500,
            N_("Something went wrong"),
            N_("The page could not be shown. The request id %(request_id)s identifies it in the logs."),
            None,
            {"request_id": request.scope.get("state", {}).get("request_id", "?")},
        )
    gettext = translations(viewer.language).gettext
    text = gettext(message)
    response = viewer.render(
        "error.html",
        {"title": gettext(title), "message": text % params if params else text, "detail": detail, "status": status},
        status=status,
    )
    return response


def _same_console_path(request: Request) -> str:
    path = request.url.path
    if request.method != "GET" or not path.startswith(PREFIX):
        return f"{PREFIX}/"
    return path + ("?" + request.url.query if request.url.query else "")


def safe_next(value: str | None) -> str:
    """A redirect target after sign-in: a console path only (no other site, no scheme-relative URL)."""
    if not value or not value.startswith(PREFIX + "/") or value.startswith("//") or "\\" in value:
        return PREFIX + "/"
    return quote(value, safe="/?=&%:-_.~+")


class ConsoleRoute(APIRoute):
    """Runs a page and turns whatever it raises into a page (or a redirect to sign-in)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                response = await handler(request)
            except Exception as exc:
                return failure_page(request, exc)
            return response

        return run


def ConsoleRouter() -> APIRouter:
    return APIRouter(route_class=ConsoleRoute, include_in_schema=False)
