"""The gateway's edge: token and role check, rate limits, and the reverse proxy to the departments.

A pure ASGI app in front of the FastAPI app, so proxied requests skip FastAPI's routing and
dependency machinery entirely. For /api/v1/<dept>/... it looks the route up in the role matrix,
verifies the bearer token (401) and the role (403), counts the request against the rate limit
(429) and forwards it through aiohttp's pooled keep-alive connections (plain httpx.AsyncClient
reached 0.06 of a direct call's throughput here, aiohttp 0.42). Everything else goes to the
FastAPI app, after the login and per-token limits.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import aiohttp
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.ratelimit import GatewayLimits
from gateway.roles import RoleMatrix, Rule
from hanse import logs, tracing
from hanse.auth import AuthError, TokenCache
from hanse.http import REQUEST_ID, problem
from hanse.metrics import Metrics
from hanse.ratelimit import RateLimiter
from hanse.settings import Settings

log = logging.getLogger("hanse.gateway.proxy")

# Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus ones we recompute.
# Host is kept, so the URLs a department builds (a redirect's Location) name the gateway.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"x-forwarded-for",
        b"x-forwarded-proto",
    }
)
RESPONSE_SKIP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "upgrade", "content-length", "date", "server"}
)
LOGIN_PATH = "/api/v1/auth/token"


# Uploads allowed past the 1 MiB default: a sanctions list is tens to hundreds of MB (compliance
# keeps its own limit, HANSE_SANCTIONS_UPLOAD_MAX_MB, and streams the file to disk).
LARGE_UPLOADS = {"/api/v1/compliance/sanctions/import": 1024 * 1024 * 1024}


class BodyTooLarge(Exception):
    pass


class Refused(Exception):
    """The edge refuses a request before it reaches a department (401, 403, 429)."""

    def __init__(self, status: int, detail: str, slug: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.slug, self.headers = status, detail, slug, headers


def bearer(authorization: bytes | None) -> str | None:
    if authorization is None or authorization[:7].lower() != b"bearer ":
        return None
    return authorization[7:].strip().decode("latin-1") or None


class UpstreamProxy:
    """ASGI app: gates and routes /api/v1/<dept>... to the department, everything else to `app`."""

    def __init__(
        self,
        app: ASGIApp,
        upstreams: dict[str, str],
        *,
        settings: Settings,
        metrics: Metrics | None = None,
        matrix: RoleMatrix | None = None,
        limits: GatewayLimits | None = None,
        timeout_seconds: float = 30.0,
        max_body_bytes: int = 1_048_576,
    ) -> None:
        self.app = app
        self.upstreams = upstreams
        self.prefixes = {f"/api/v1/{name}": name for name in upstreams}
        self.metrics = metrics
        self.matrix = matrix or RoleMatrix()
        self.limits = limits or GatewayLimits()
        self.pool_idle_seconds = settings.upstream_pool_idle_seconds
        self.tokens = TokenCache(settings)
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds, sock_connect=3)
        self.max_body_bytes = max_body_bytes
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        tracing.configure("gateway")  # OTEL_* env: the SDK and its exporter, or nothing (the default)
        # An idle connection is dropped before the department would close it (Settings.keep_alive_seconds).
        connector = aiohttp.TCPConnector(
            limit=512, limit_per_host=256, keepalive_timeout=self.pool_idle_seconds, ttl_dns_cache=300
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self.timeout, auto_decompress=False, skip_auto_headers=("User-Agent",)
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "proxy not started"
        return self._session

    def _department(self, path: str) -> str | None:
        if not path.startswith("/api/v1/"):
            return None
        end = path.find("/", 8)
        return self.prefixes.get(path if end < 0 else path[:end])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        department = self._department(path)
        if department is None:
            try:
                self._limit_own_route(scope, path)
            except Refused as refused:
                await self._refuse(scope, receive, send, refused, None)
                return
            await self.app(scope, receive, send)
            return
        await self.forward(department, scope, receive, send)

    # -- the gate ----------------------------------------------------------------------------------

    def _client_ip(self, scope: Scope) -> str:
        client = scope.get("client")
        return client[0] if client else "unknown"

    def _limit(self, limiter: RateLimiter, key: str) -> None:
        wait = limiter.hit(key)
        if wait is not None:
            raise Refused(
                429,
                f"rate limit {limiter.limit} exceeded; retry in {wait} s",
                "rate-limited",
                {"Retry-After": str(wait)},
            )

    def _limit_own_route(self, scope: Scope, path: str) -> None:
        """The gateway's own routes: login per client IP; anything with a valid token per subject."""
        if path == LOGIN_PATH:
            self._limit(self.limits.login, self._client_ip(scope))
            return
        token = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                token = bearer(value)
                break
        if token is None:
            return
        try:
            principal = self.tokens.principal(token)
        except AuthError:
            return  # the route itself answers 401 (or is public)
        self._limit(self.limits.per_subject, principal.subject)

    def _gate(self, rule: Rule | None, token: str | None, scope: Scope) -> None:
        """401/403/429 for a department request, or return to let it through."""
        if rule is not None and rule.public:
            self._limit(self.limits.public, self._client_ip(scope))
            return
        if token is None:
            if rule is None:
                # Not a route the gateway knows: the department answers (404), counted per client IP.
                self._limit(self.limits.public, self._client_ip(scope))
                return
            raise Refused(401, "missing bearer token", "unauthorized", {"WWW-Authenticate": 'Bearer realm="hanse"'})
        try:
            principal = self.tokens.principal(token)
        except AuthError as exc:
            raise Refused(401, exc.detail, "unauthorized", {"WWW-Authenticate": 'Bearer realm="hanse"'}) from None
        if rule is not None and not rule.allows(principal.roles):
            assert rule.roles is not None
            raise Refused(403, f"requires one of the roles: {', '.join(sorted(rule.roles))}", "forbidden")
        self._limit(self.limits.per_subject, principal.subject)

    # -- forwarding --------------------------------------------------------------------------------

    async def _read_body(self, receive: Receive, limit: int | None = None) -> bytes:
        limit = limit or self.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def forward(self, department: str, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        rule = self.matrix.lookup(department, method, path)
        request_id = None
        token = None
        traceparent = None
        correlation = None
        forwarded_for: list[str] = []
        headers: list[tuple[str, str]] = []
        for name, value in scope["headers"]:
            if name in HOP_BY_HOP:
                if name == b"x-forwarded-for":
                    forwarded_for.append(value.decode("latin-1"))
                continue
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                # Only a sane token is kept (and echoed); anything else is replaced, like the services do.
                if REQUEST_ID.fullmatch(candidate):
                    request_id = candidate
                continue
            elif name == b"authorization":
                token = bearer(value)
            elif name == b"traceparent":
                traceparent = value
            elif name == b"x-correlation-id":
                candidate = value.decode("latin-1")
                correlation = candidate if REQUEST_ID.fullmatch(candidate) else None
            headers.append((name.decode("latin-1"), value.decode("latin-1")))
        if request_id is None:
            request_id = uuid.uuid4().hex
        headers.append(("x-request-id", request_id))
        # Append the peer to the chain, so the department's "last entry" is the address we saw.
        forwarded_for.append(self._client_ip(scope))
        headers.append(("x-forwarded-for", ", ".join(forwarded_for)))
        headers.append(("x-forwarded-proto", scope.get("scheme", "http")))
        rid = request_id.encode("latin-1")
        route = rule.path if rule is not None else f"/api/v1/{department}/*"
        status = 502
        log_tokens = (logs.request_id.set(request_id), logs.correlation_id.set(correlation))
        tracer = tracing.tracer("gateway")
        spans = self._start_spans(tracer, department, method, route, traceparent, request_id, headers) if tracer else ()
        try:
            self._gate(rule, token, scope)
            raw_path = scope.get("raw_path") or path.encode()
            url = self.upstreams[department] + raw_path.decode("latin-1")
            if scope.get("query_string"):
                url += "?" + scope["query_string"].decode("latin-1")
            body = await self._read_body(receive, LARGE_UPLOADS.get(path))
            async with self.session.request(
                method, url, headers=headers, data=body or None, allow_redirects=False
            ) as upstream:
                payload = await upstream.read()
                status = upstream.status
                out = [
                    (k.encode("latin-1"), v.encode("latin-1"))
                    for k, v in upstream.headers.items()
                    if k.lower() not in RESPONSE_SKIP
                ]
            out.append((b"content-length", str(len(payload)).encode()))
            await send({"type": "http.response.start", "status": status, "headers": out})
            await send({"type": "http.response.body", "body": payload})
        except Refused as refused:
            status = refused.status
            await self._refuse(scope, receive, send, refused, rid)
        except BodyTooLarge:
            status = 413
            await self._problem(scope, receive, send, 413, f"request body larger than {self.max_body_bytes} bytes", rid)
        except TimeoutError:
            status = 504
            await self._problem(scope, receive, send, 504, f"{department} did not answer in time", rid, department)
        except aiohttp.ClientConnectorError:
            status = 503
            await self._problem(scope, receive, send, 503, f"{department} is unavailable", rid, department)
        except (aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
            status = 502
            log.warning("upstream %s failed: %s", department, exc)
            await self._problem(scope, receive, send, 502, f"{department} sent an invalid response", rid, department)
        finally:
            for span in spans:
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    tracing.set_error(span, f"HTTP {status}")
                span.end()
            logs.correlation_id.reset(log_tokens[1])
            logs.request_id.reset(log_tokens[0])
            if self.metrics is not None:
                self.metrics.http_requests.labels(method, route, str(status)).inc()
                self.metrics.http_duration.labels(method, route).observe(time.perf_counter() - started)

    @staticmethod
    def _start_spans(
        tracer: tracing.Tracer,
        department: str,
        method: str,
        route: str,
        traceparent: bytes | None,
        request_id: str,
        headers: list[tuple[str, str]],
    ) -> tuple[tracing.Span, tracing.Span]:
        """The gateway's SERVER span (a client's `traceparent` continued) and the CLIENT span of the
        upstream call, whose traceparent replaces the client's in the forwarded headers."""
        server = tracer.start_span(
            f"{method} {route}",
            context=tracing.extract(traceparent),
            kind=tracing.SpanKind.SERVER,
            attributes={
                "hanse.service": "gateway",
                "http.request.method": method,
                "http.route": route,
                "hanse.request_id": request_id,
            },
        )
        client = tracer.start_span(
            f"{method} {department}",
            context=tracing.trace.set_span_in_context(server),
            kind=tracing.SpanKind.CLIENT,
            attributes={"hanse.service": "gateway", "http.request.method": method, "hanse.department": department},
        )
        headers[:] = [(k, v) for k, v in headers if k != "traceparent"]
        upstream = tracing.traceparent_of(client)
        if upstream:
            headers.append(("traceparent", upstream))
        return client, server

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, refused: Refused, rid: bytes | None) -> None:
        headers = dict(refused.headers or {})
        headers["x-request-id"] = rid.decode("latin-1") if rid else uuid.uuid4().hex
        response = problem(refused.status, refused.detail, slug=refused.slug, instance=scope["path"], headers=headers)
        await response(scope, receive, send)

    async def _problem(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        detail: str,
        request_id: bytes,
        department: str | None = None,
    ) -> None:
        response = problem(
            status,
            detail,
            slug="upstream" if department else "too-large",
            department=department,
            headers={"x-request-id": request_id.decode("latin-1")},
        )
        await response(scope, receive, send)
