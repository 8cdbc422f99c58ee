"""HTTP edges shared by every app: RFC 9457 problem responses, the request middleware, API docs."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

import fastapi_offline
import httpx
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hanse import logs, tracing
from hanse.auth import AuthError, Forbidden
from hanse.errors import DomainError
from hanse.metrics import Metrics

log = logging.getLogger("hanse.http")

PROBLEM = "application/problem+json"
PROBLEM_BASE = "https://hanse.dev/problems/"
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def problem(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    slug: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug if slug else "about:blank",
        "title": title or phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(orjson.dumps(body, default=str), status_code=status, media_type=PROBLEM, headers=headers)


class _OnwardTransport(httpx.AsyncBaseTransport):
    """What a call to another department carries on behalf of this request or event, so callers
    need not remember it: the request id, so both services' log lines name it (as the gateway
    forwards it), and with tracing on a CLIENT span around the call whose traceparent the request
    carries, so the called department's server span is its child. The span is under the current
    one (the request's, the event handler's), or the root of a trace of its own where there is
    none (a scheduler job's call, such as sales fetching an invoice's PDF for its mail)."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        rid = logs.request_id.get()
        if rid and "x-request-id" not in request.headers:
            request.headers["X-Request-ID"] = rid
        service = logs.service.get() or "hanse"
        tracer = tracing.tracer(service)
        if tracer is None:
            return await self._inner.handle_async_request(request)
        # /api/v1/<department>/...: named like the gateway's upstream spans, without the ids.
        parts = request.url.path.split("/")
        department = parts[3] if len(parts) > 3 and parts[1:3] == ["api", "v1"] else request.url.host
        attributes = {
            "hanse.service": service,
            "hanse.department": department,
            "http.request.method": request.method,
            "url.full": str(request.url),
        }
        with tracing.span(
            tracer,
            f"{request.method} {department}",
            parent=tracing.current_context(),
            kind=tracing.SpanKind.CLIENT,
            attributes=attributes,
        ) as span:
            traceparent = tracing.traceparent_of(span)
            if traceparent:
                request.headers["traceparent"] = traceparent
            response = await self._inner.handle_async_request(request)
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                tracing.set_error(span, f"HTTP {response.status_code}")
            return response

    async def aclose(self) -> None:
        await self._inner.aclose()


# One pooled client per event loop for calls to other departments. Building an httpx client costs
# about 2 ms of CPU (its TLS context loads the CA bundle) and a new connection per call; sales made
# one per invoice mail and per freight quote. Per loop, because a pool's connections belong to the
# loop that opened them (tests run apps on several loops in one process).
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def department_client() -> httpx.AsyncClient:
    """The process's pooled client for calls to other departments; pass `timeout=` per request."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = _clients[loop] = httpx.AsyncClient(timeout=10.0, transport=_OnwardTransport())
    return client


async def close_department_client() -> None:
    """Close this loop's client (the app's shutdown); a later call opens a new one."""
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def client_address(request: Request, *, behind_gateway: bool) -> str:
    """Who is asking: the peer address, or behind the gateway the address the gateway saw.

    The gateway appends the address it saw as the last X-Forwarded-For entry; entries before
    it came from the client and can be forged, so only the last one is trusted.
    """
    if behind_gateway:
        headers = request.headers.getlist("x-forwarded-for")
        entries = [e.strip() for header in headers for e in header.split(",") if e.strip()]
        if entries:
            try:
                return str(ipaddress.ip_address(entries[-1]))
            except ValueError:
                pass
    return request.client.host if request.client else "unknown"


def operation_id(route: APIRoute) -> str:
    """`<tag>-<name>` (e.g. `sales-accept_quote`), so that generated clients read well."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


# Swagger UI and ReDoc as files of the fastapi-offline wheel: the docs work with no network.
DOCS_ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"


def install_docs(app: FastAPI, prefix: str = "/docs-assets") -> None:
    """Serve /docs (Swagger UI) and /redoc from local static files instead of a CDN."""
    app.mount(prefix, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{prefix}/swagger-ui-bundle.js",
            swagger_css_url=f"{prefix}/swagger-ui.css",
            swagger_favicon_url=f"{prefix}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{prefix}/redoc.standalone.js",
            redoc_favicon_url=f"{prefix}/favicon.png",
            with_google_fonts=False,
        )


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie", "form"):
        where, rest = parts[0], parts[1:]
        return ".".join(rest) if where in ("body", "form") and rest else ".".join([where, *rest])
    return ".".join(parts)


def install_problem_handlers(app: FastAPI) -> None:
    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "field": _field_path(tuple(e.get("loc", ()))),
                "message": e.get("msg", ""),
                "type": e.get("type"),
            }
            for e in exc.errors()
        ]
        if any(e["type"] == "json_invalid" for e in errors):
            return problem(
                400, "request body is not valid JSON", slug="malformed-json", instance=request.url.path, field="body"
            )
        first = errors[0] if errors else {"field": "", "message": "invalid request"}
        detail = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        return problem(
            422,
            detail,
            title="Invalid request",
            slug="validation",
            instance=request.url.path,
            field=first["field"] or None,
            errors=errors,
        )

    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers) if exc.headers else None
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route for {request.method} {request.url.path}"
        return problem(exc.status_code, detail, instance=request.url.path, headers=headers)

    async def on_domain(request: Request, exc: DomainError) -> Response:
        return problem(
            exc.status,
            exc.detail,
            title=exc.title,
            slug=exc.slug,
            instance=request.url.path,
            field=exc.field,
            **exc.extra,
        )

    async def on_auth(request: Request, exc: AuthError) -> Response:
        return problem(
            401,
            exc.detail,
            slug="unauthorized",
            instance=request.url.path,
            headers={"WWW-Authenticate": 'Bearer realm="hanse"'},
        )

    async def on_forbidden(request: Request, exc: Forbidden) -> Response:
        return problem(403, exc.detail, slug="forbidden", instance=request.url.path)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal error; the request id identifies it in the logs", instance=request.url.path)

    app.add_exception_handler(RequestValidationError, on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, on_http)  # type: ignore[arg-type]
    app.add_exception_handler(DomainError, on_domain)  # type: ignore[arg-type]
    app.add_exception_handler(AuthError, on_auth)  # type: ignore[arg-type]
    app.add_exception_handler(Forbidden, on_forbidden)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, on_unexpected)


class EdgeMiddleware:
    """Pure ASGI middleware: X-Request-ID, body size limit, HTTP metrics, log context and the server span.

    The request id (and an `X-Correlation-ID`, when the caller sends one) go into every log line of
    the request. With tracing on, the request runs in a SERVER span that continues the caller's
    `traceparent` (the gateway's client span); events written by the request name that span.
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics | None = None,
        max_body_bytes: int = 1_048_576,
        service: str | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.service = service or (metrics.service if metrics is not None else "hanse")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        length = None
        traceparent = None
        correlation = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                # fullmatch: `$` would also match before a trailing newline and echo it into a header.
                request_id = candidate if REQUEST_ID.fullmatch(candidate) else None
            elif name == b"content-length":
                length = value
            elif name == b"traceparent":
                traceparent = value
            elif name == b"x-correlation-id":
                candidate = value.decode("latin-1")
                correlation = candidate if REQUEST_ID.fullmatch(candidate) else None
        request_id = request_id or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        rid = request_id.encode()
        status_holder = [500]
        tokens = (logs.request_id.set(request_id), logs.correlation_id.set(correlation), logs.service.set(self.service))

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid)]
            await send(message)

        started = time.perf_counter()
        try:
            tracer = tracing.tracer(self.service)
            if tracer is None:
                await self._respond(scope, receive, send_wrapper, length)
                self._record(scope, status_holder[0], started)
                return
            with tracing.span(
                tracer,
                f"{scope['method']} {scope['path']}",
                parent=tracing.extract(traceparent),
                kind=tracing.SpanKind.SERVER,
                attributes={
                    "hanse.service": self.service,
                    "http.request.method": scope["method"],
                    "url.path": scope["path"],
                    "hanse.request_id": request_id,
                },
            ) as span:
                await self._respond(scope, receive, send_wrapper, length)
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"{scope['method']} {route}")
                    span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status_holder[0])
                if status_holder[0] >= 500:
                    tracing.set_error(span, f"HTTP {status_holder[0]}")
                self._record(scope, status_holder[0], started)
        finally:
            logs.service.reset(tokens[2])
            logs.correlation_id.reset(tokens[1])
            logs.request_id.reset(tokens[0])

    def _record(self, scope: Scope, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        if self.metrics is not None:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.http_requests.labels(method, path, str(status)).inc()
            self.metrics.http_duration.labels(method, path).observe(elapsed)
        if log.isEnabledFor(logging.DEBUG):
            # An access line only at DEBUG (HANSE_LOG_LEVEL): the request path is benchmarked.
            log.debug("%s %s %d in %.1f ms", scope["method"], scope["path"], status, elapsed * 1000)

    async def _respond(self, scope: Scope, receive: Receive, send: Send, length: bytes | None) -> None:
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            response = problem(413, f"request body larger than {self.max_body_bytes} bytes", slug="too-large")
            await response(scope, receive, send)
        else:
            await self.app(scope, self._limited(receive), send)

    def _limited(self, receive: Receive) -> Callable[[], Awaitable[Message]]:
        seen = 0
        limit = self.max_body_bytes

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge()
            return message

        return limited


class BodyTooLarge(StarletteHTTPException):
    def __init__(self) -> None:
        super().__init__(413, "request body too large")
