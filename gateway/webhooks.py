"""Partner webhooks: endpoints subscribe to event types; a worker delivers timeline events signed per Standard Webhooks.

The worker fans new timeline events out into `webhook_delivery` rows (a persisted cursor, so a
restart resumes where it stopped), claims due deliveries with a lease, POSTs the CloudEvent
signed with the `standardwebhooks` library, and records every attempt. Network errors, 5xx,
408 and 429 are retried on a backoff schedule; other answers are final. An endpoint that keeps
failing is disabled. Targets must be public addresses (loopback too in dev), checked when the
endpoint is created and again, through the resolver the connection itself uses, on every delivery.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import logging
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from fastapi import APIRouter, FastAPI, Path, Query, Request
from pydantic import Field as PydanticField
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import delete, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import select
from standardwebhooks import Webhook
from starlette.responses import Response

from gateway.events import hub_of, latest_seq, type_matches
from gateway.models.events import TimelineEvent
from gateway.models.webhooks import (
    AttemptPublic,
    DeliveryPublic,
    DeliveryState,
    DispatchCursor,
    EndpointStatus,
    WebhookAttempt,
    WebhookCreate,
    WebhookCreated,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookPublic,
)
from gateway.state import state_of
from hanse.auth import Principal, require_roles
from hanse.db import Database
from hanse.errors import Conflict, Invalid, NotFound
from hanse.events import utcnow
from hanse.ids import new_id
from hanse.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from services import event_registry

log = logging.getLogger("hanse.gateway.webhooks")

router = APIRouter(tags=["webhooks"])

# Partner apps manage their own endpoints; admin sees and manages all of them.
PartnerOrAdmin = Annotated[Principal, require_roles("partner")]
EndpointId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$")]
DeliveryId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$")]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class WebhookSettings(BaseSettings):
    """Delivery tuning (env HANSE_WEBHOOK_*); tests shorten the schedule."""

    model_config = SettingsConfigDict(env_prefix="HANSE_WEBHOOK_", extra="ignore")

    # Seconds to wait before each retry; its length is the number of retries (1 + len attempts in all).
    retry_schedule: list[float] = PydanticField(default=[5, 30, 120, 600, 1800, 7200, 18000, 36000], min_length=0)
    timeout_seconds: float = 10.0
    # Disable an endpoint after this many deliveries in a row were given up on ...
    disable_after_failures: int = 10
    # ... or when every attempt has failed for this long.
    disable_after_hours: float = 72.0
    poll_seconds: float = 1.0
    concurrency: int = 16
    fan_out_batch: int = 500
    # Networks an operator explicitly allows although they are not public (an internal partner system).
    allowed_networks: list[str] = []


# -- target address policy ------------------------------------------------------------------------


class ForbiddenTarget(OSError):
    """A webhook target resolved to an address webhooks may not reach."""


@dataclass(frozen=True)
class TargetPolicy:
    allow_loopback: bool
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def for_env(cls, env: str, allowed_networks: list[str]) -> TargetPolicy:
        return cls(env == "dev", tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks))

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` is not a valid target (None when it is)."""
        if isinstance(address, ipaddress.IPv6Address):
            # An IPv4 address dressed as IPv6 is judged as the IPv4 address it reaches.
            embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
            if embedded is not None:
                return self.refusal(embedded)
        if any(address in network for network in self.allowed_networks):
            return None
        if address.is_loopback:
            return None if self.allow_loopback else "loopback"
        if address.is_unspecified:
            return "unspecified"
        if address.is_link_local:
            return "link-local"
        if address.is_multicast:
            return "multicast"
        if address.is_reserved:
            return "reserved"
        if address.is_private:
            return "private"
        if not address.is_global:
            return "non-public"
        return None


def parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def parse_target(url: str) -> tuple[str, int]:
    """Host and port of a webhook URL; a 422 naming `url` for anything but a plain http(s) URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Invalid(f"url is not a valid URL: {exc}", field="url") from None
    if parts.scheme not in ("http", "https"):
        raise Invalid("url must be an http or https URL", field="url")
    if not parts.hostname:
        raise Invalid("url has no host", field="url")
    if parts.username is not None or parts.password is not None:
        raise Invalid("url must not carry credentials; deliveries are signed instead", field="url")
    if any(c.isspace() for c in url):
        raise Invalid("url must not contain whitespace", field="url")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def check_target(url: str, policy: TargetPolicy) -> None:
    """Resolve the URL's host and refuse it when any address is not allowed (422 naming `url`)."""
    host, port = parse_target(url)
    literal = parse_ip(host)
    if literal is not None:
        addresses = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), 5)
        except (OSError, TimeoutError, UnicodeError):
            raise Invalid(f"url host {host!r} does not resolve", field="url") from None
        addresses = [a for a in (parse_ip(str(info[4][0]).split("%")[0]) for info in infos) if a is not None]
        if not addresses:
            raise Invalid(f"url host {host!r} does not resolve", field="url")
    for address in addresses:
        reason = policy.refusal(address)
        if reason:
            raise Invalid(
                f"url points to {address}, a {reason} address; webhooks are delivered to public addresses only",
                field="url",
            )


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp does, then refuses the connection if any address is not allowed.

    The check runs on the addresses the connection will use, at delivery time, so a hostname
    that was public at creation and now resolves privately (DNS rebinding) is refused.
    """

    def __init__(self, policy: TargetPolicy) -> None:
        self.policy = policy
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            address = parse_ip(result["host"])
            reason = "unparseable" if address is None else self.policy.refusal(address)
            if reason:
                raise ForbiddenTarget(f"{host} resolves to {result['host']}, a {reason} address")
        return results

    async def close(self) -> None:
        await self._inner.close()


# -- helpers ------------------------------------------------------------------------------------------


def webhook_settings_of(app: FastAPI) -> WebhookSettings:
    return state_of(app, "webhook_settings", WebhookSettings)


def policy_of(app: FastAPI) -> TargetPolicy:
    return TargetPolicy.for_env(app.state.settings.env, webhook_settings_of(app).allowed_networks)


def new_secret() -> str:
    # Standard Webhooks: a random key of 24 to 64 bytes, base64 with the `whsec_` prefix.
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def validate_filters(filters: list[str]) -> list[str]:
    known = event_registry().types()
    for i, pattern in enumerate(filters):
        if pattern == "*" or (pattern.endswith(".") and any(t.startswith(pattern) for t in known)):
            continue
        if pattern not in known:
            kind = "prefix" if pattern.endswith(".") else "event type"
            raise Invalid(f"{kind} {pattern!r} matches no event type any department publishes", field=f"events.{i}")
    return list(dict.fromkeys(filters))


def public(endpoint: WebhookEndpoint) -> WebhookPublic:
    return WebhookPublic.model_validate(endpoint, from_attributes=True)


def _insert(db: Database) -> Any:
    return pg_insert if db.is_postgres else sqlite_insert


async def _owned(db: Database, endpoint_id: str, principal: Principal) -> WebhookEndpoint:
    async with db.read_session() as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
    # Another partner's endpoint is as unknown as a missing one.
    if endpoint is None or ("admin" not in principal.roles and endpoint.owner != principal.subject):
        raise NotFound(f"no webhook {endpoint_id}")
    return endpoint


# -- routes ---------------------------------------------------------------------------------------------


@router.post(
    "/api/v1/webhooks",
    status_code=201,
    summary="Subscribe a URL to event types; the answer carries the signing secret (shown once)",
    responses={422: {"description": "bad url (not http(s), private address) or unknown event type"}},
)
async def create_webhook(body: WebhookCreate, request: Request, principal: PartnerOrAdmin) -> WebhookCreated:
    app = request.app
    db: Database = app.state.db
    events = validate_filters(body.events)
    await check_target(body.url, policy_of(app))
    endpoint = WebhookEndpoint(
        id=new_id("wh"),
        owner=principal.subject,
        url=body.url,
        events=events,
        secret=new_secret(),
        status="active",
        start_seq=await latest_seq(db),
        created_at=utcnow(),
    )
    async with db.session() as session, session.begin():
        session.add(endpoint)
    return WebhookCreated(**public(endpoint).model_dump(), secret=endpoint.secret)


@router.get("/api/v1/webhooks", summary="Webhook endpoints (a partner sees its own)")
async def list_webhooks(
    request: Request,
    principal: PartnerOrAdmin,
    status: Annotated[EndpointStatus | None, Query(description="only active or only disabled endpoints")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[WebhookPublic]:
    query = select(WebhookEndpoint)
    if "admin" not in principal.roles:
        query = query.where(WebhookEndpoint.owner == principal.subject)
    if status is not None:
        query = query.where(WebhookEndpoint.status == status)
    if cursor:
        query = query.where(WebhookEndpoint.id > decode_cursor(cursor))
    async with request.app.state.db.read_session() as session:
        rows = list((await session.exec(query.order_by(WebhookEndpoint.id).limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[WebhookPublic](
        items=[public(r) for r in rows], next_cursor=encode_cursor(rows[-1].id) if more and rows else None
    )


@router.get("/api/v1/webhooks/{endpoint_id}", summary="One webhook endpoint", responses={404: {}})
async def get_webhook(endpoint_id: EndpointId, request: Request, principal: PartnerOrAdmin) -> WebhookPublic:
    return public(await _owned(request.app.state.db, endpoint_id, principal))


@router.delete(
    "/api/v1/webhooks/{endpoint_id}",
    status_code=204,
    response_class=Response,
    summary="Unsubscribe: nothing more is delivered; the delivery log goes too",
    responses={404: {}},
)
async def delete_webhook(endpoint_id: EndpointId, request: Request, principal: PartnerOrAdmin) -> Response:
    db: Database = request.app.state.db
    await _owned(db, endpoint_id, principal)
    async with db.session() as session, session.begin():
        for table in (WebhookAttempt, WebhookDelivery):
            await session.exec(delete(table).where(table.endpoint_id == endpoint_id))  # type: ignore[call-overload]
        await session.exec(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))  # type: ignore[call-overload]
    return Response(status_code=204)


@router.get(
    "/api/v1/webhooks/{endpoint_id}/deliveries",
    summary="Delivery log: every attempt, oldest first",
    responses={404: {}},
)
async def list_deliveries(
    endpoint_id: EndpointId, request: Request, principal: PartnerOrAdmin, cursor: Cursor = None, limit: Limit = 50
) -> Page[AttemptPublic]:
    db: Database = request.app.state.db
    await _owned(db, endpoint_id, principal)
    query = select(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint_id)
    if cursor:
        value = decode_cursor(cursor)
        if not value.isdigit() or len(value) > 18:
            raise Invalid("cursor is not one this API issued", field="cursor")
        query = query.where(WebhookAttempt.id > int(value))  # type: ignore[operator]
    async with db.read_session() as session:
        rows = list((await session.exec(query.order_by(WebhookAttempt.id).limit(limit + 1))).all())  # type: ignore[arg-type]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[AttemptPublic](
        items=[AttemptPublic.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=encode_cursor(rows[-1].id) if more and rows else None,
    )


@router.post(
    "/api/v1/webhooks/{endpoint_id}/enable",
    summary="Re-enable a disabled endpoint: its failure state is cleared; an active one is left as it is",
    responses={404: {}},
)
async def enable_webhook(endpoint_id: EndpointId, request: Request, principal: PartnerOrAdmin) -> WebhookPublic:
    db: Database = request.app.state.db
    await _owned(db, endpoint_id, principal)
    async with db.session() as session, session.begin():
        endpoint = await _locked(session, endpoint_id)
        if endpoint.status != "active":
            endpoint.status = "active"
            endpoint.consecutive_failures = 0
            endpoint.failing_since = None
            endpoint.disabled_at = None
            endpoint.disabled_reason = None
            session.add(endpoint)
            log.info("webhook %s re-enabled by %s", endpoint.id, principal.subject)
    hub_of(request.app).notify()
    return public(endpoint)


@router.post(
    "/api/v1/webhooks/{endpoint_id}/rotate-secret",
    summary="A new signing secret (shown once in the answer); every delivery from now on is signed with it",
    responses={404: {}},
)
async def rotate_secret(endpoint_id: EndpointId, request: Request, principal: PartnerOrAdmin) -> WebhookCreated:
    db: Database = request.app.state.db
    await _owned(db, endpoint_id, principal)
    async with db.session() as session, session.begin():
        endpoint = await _locked(session, endpoint_id)
        endpoint.secret = new_secret()
        session.add(endpoint)
    log.info("webhook %s secret rotated by %s", endpoint.id, principal.subject)
    return WebhookCreated(**public(endpoint).model_dump(), secret=endpoint.secret)


@router.get(
    "/api/v1/webhooks/{endpoint_id}/messages",
    summary="Deliveries, newest event first: one per event, its state, attempts and last outcome",
    responses={404: {}},
)
async def list_messages(
    endpoint_id: EndpointId,
    request: Request,
    principal: PartnerOrAdmin,
    state: Annotated[DeliveryState | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[DeliveryPublic]:
    db: Database = request.app.state.db
    await _owned(db, endpoint_id, principal)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if state is not None:
        query = query.where(WebhookDelivery.state == state)
    if cursor:
        value = decode_cursor(cursor)
        if not value.isdigit() or len(value) > 18:
            raise Invalid("cursor is not one this API issued", field="cursor")
        query = query.where(WebhookDelivery.event_seq < int(value))  # type: ignore[operator]
    async with db.read_session() as session:
        rows = list(
            (await session.exec(query.order_by(WebhookDelivery.event_seq.desc()).limit(limit + 1))).all()  # type: ignore[attr-defined]
        )
        more = len(rows) > limit
        rows = rows[:limit]
        last = await _last_attempts(session, [r.id for r in rows])
    return Page[DeliveryPublic](
        items=[_delivery_public(r, last.get(r.id)) for r in rows],
        next_cursor=encode_cursor(str(rows[-1].event_seq)) if more and rows else None,
    )


@router.post(
    "/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    summary="Queue a failed delivery again (same webhook-id, a fresh signature); one already queued stays queued",
    responses={404: {}, 409: {"description": "the delivery was delivered, or the endpoint is disabled"}},
)
async def redeliver(
    endpoint_id: EndpointId, delivery_id: DeliveryId, request: Request, principal: PartnerOrAdmin
) -> DeliveryPublic:
    db: Database = request.app.state.db
    await _owned(db, endpoint_id, principal)
    async with db.session() as session, session.begin():
        endpoint = await _locked(session, endpoint_id)
        delivery = (
            await session.exec(
                select(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id)
                .with_for_update()
            )
        ).first()
        if delivery is None:
            raise NotFound(f"no delivery {delivery_id} of webhook {endpoint_id}")
        if delivery.state == "delivered":
            raise Conflict(f"delivery {delivery_id} was delivered; only a failed one is sent again")
        if endpoint.status != "active":
            raise Conflict(f"webhook {endpoint_id} is disabled; enable it first")
        if delivery.state == "failed":
            delivery.state = "pending"
            delivery.next_attempt_at = utcnow()
            delivery.finished_at = None
            session.add(delivery)
            log.info("webhook %s delivery %s queued again by %s", endpoint_id, delivery_id, principal.subject)
        last = await _last_attempts(session, [delivery.id])
    hub_of(request.app).notify()
    return _delivery_public(delivery, last.get(delivery.id))


async def _locked(session: Any, endpoint_id: str) -> WebhookEndpoint:
    endpoint = (
        await session.exec(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).with_for_update())
    ).first()
    if endpoint is None:  # deleted since _owned looked
        raise NotFound(f"no webhook {endpoint_id}")
    return endpoint


async def _last_attempts(session: Any, delivery_ids: list[str]) -> dict[str, WebhookAttempt]:
    """The latest attempt of each delivery (by attempt id, which only grows)."""
    if not delivery_ids:
        return {}
    latest = (
        select(func.max(WebhookAttempt.id))
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))  # type: ignore[attr-defined]
        .group_by(WebhookAttempt.delivery_id)
    )
    rows = (await session.exec(select(WebhookAttempt).where(WebhookAttempt.id.in_(latest)))).all()  # type: ignore[union-attr]
    return {row.delivery_id: row for row in rows}


def _delivery_public(delivery: WebhookDelivery, last: WebhookAttempt | None) -> DeliveryPublic:
    return DeliveryPublic(
        id=delivery.id,
        event_id=delivery.event_id,
        event_seq=delivery.event_seq,
        event_type=delivery.event_type,
        state=delivery.state,  # type: ignore[arg-type]
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        created_at=delivery.created_at,
        finished_at=delivery.finished_at,
        last_status_code=last.status_code if last else None,
        last_error=last.error if last else None,
        last_attempt_at=last.at if last else None,
    )


# -- the delivery worker -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    delivery_id: str
    endpoint_id: str
    url: str
    secret: str
    body: str
    attempt: int


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    retryable: bool
    status_code: int | None
    error: str | None
    duration_ms: int
    retry_after: float | None = None


def classify(status: int) -> tuple[bool, bool]:
    """(delivered, retryable) for an HTTP answer: 2xx delivered; 5xx, 408, 429 worth another try."""
    if 200 <= status < 300:
        return True, False
    return False, status >= 500 or status in (408, 429)


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return float(value.strip())
    return None


class WebhookWorker:
    def __init__(self, db: Database, app: FastAPI) -> None:
        self.db = db
        self.hub = hub_of(app)
        self.tuning = webhook_settings_of(app)
        self.policy = policy_of(app)
        self.lease = timedelta(seconds=self.tuning.timeout_seconds + 30)
        self._stopping = False
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self.policy), use_dns_cache=False, limit=self.tuning.concurrency
        )
        self._http = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.tuning.timeout_seconds),
            headers={"User-Agent": "Hanse-Webhooks/1.0"},
        )
        try:
            while not self._stopping:
                seen = self.hub.current()
                try:
                    await self.fan_out()
                    await self.dispatch_due()
                except Exception:
                    log.exception("webhook worker round failed; trying again")
                await self.hub.wait(seen, self.tuning.poll_seconds)
        finally:
            if self._in_flight:
                await asyncio.wait(self._in_flight, timeout=self.tuning.timeout_seconds)
            for task in self._in_flight:
                task.cancel()
            await self._http.close()

    def stop(self) -> None:
        self._stopping = True
        self.hub.notify()

    async def fan_out(self) -> None:
        """Turn timeline events after the cursor into deliveries for every matching active endpoint."""
        async with self.db.read_session() as session:
            cursor = await session.get(DispatchCursor, "timeline")
            if cursor is not None and await self._latest(session) <= cursor.seq:
                return  # nothing new: no write transaction (on SQLite it would hold the one write lock)
        while True:
            async with self.db.session() as session, session.begin():
                await session.exec(  # type: ignore[call-overload]
                    _insert(self.db)(DispatchCursor.__table__)  # type: ignore[attr-defined]
                    .values(name="timeline", seq=await self._latest(session))
                    .on_conflict_do_nothing(index_elements=["name"])
                )
                cursor = (
                    await session.exec(
                        select(DispatchCursor).where(DispatchCursor.name == "timeline").with_for_update()
                    )
                ).one()
                endpoints = list(
                    (await session.exec(select(WebhookEndpoint).where(WebhookEndpoint.status == "active"))).all()
                )
                rows = list(
                    (
                        await session.exec(
                            select(TimelineEvent.seq, TimelineEvent.event_id, TimelineEvent.type)
                            .where(TimelineEvent.seq > cursor.seq)  # type: ignore[operator]
                            .order_by(TimelineEvent.seq)  # type: ignore[arg-type]
                            .limit(self.tuning.fan_out_batch)
                        )
                    ).all()
                )
                if not rows:
                    return
                now = utcnow()
                owed = [
                    {
                        "id": new_id("msg"),
                        "endpoint_id": endpoint.id,
                        "event_seq": seq,
                        "event_id": event_id,
                        "event_type": event_type,
                        "state": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for seq, event_id, event_type in rows
                    for endpoint in endpoints
                    if seq > endpoint.start_seq and type_matches(event_type, endpoint.events)
                ]
                if owed:
                    await session.exec(  # type: ignore[call-overload]
                        _insert(self.db)(WebhookDelivery.__table__)  # type: ignore[attr-defined]
                        .values(owed)
                        .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
                    )
                cursor.seq = rows[-1][0]
                session.add(cursor)
            if len(rows) < self.tuning.fan_out_batch:
                return

    async def _latest(self, session: Any) -> int:
        return int((await session.exec(select(func.max(TimelineEvent.seq)))).one() or 0)

    @staticmethod
    def _due(query: Any, now: datetime) -> Any:
        return query.join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id).where(
            WebhookDelivery.state.in_(("pending", "retrying")),  # type: ignore[attr-defined]
            WebhookDelivery.next_attempt_at <= now,  # type: ignore[operator]
            WebhookEndpoint.status == "active",
        )

    async def dispatch_due(self) -> None:
        capacity = self.tuning.concurrency - len(self._in_flight)
        if capacity <= 0:
            return
        now = utcnow()
        async with self.db.read_session() as session:
            if (await session.exec(self._due(select(WebhookDelivery.id), now).limit(1))).first() is None:
                return
        async with self.db.session() as session, session.begin():
            query = (
                self._due(select(WebhookDelivery, WebhookEndpoint, TimelineEvent.cloudevent), now)
                .join(TimelineEvent, TimelineEvent.seq == WebhookDelivery.event_seq)  # type: ignore[arg-type]
                .order_by(WebhookDelivery.next_attempt_at)  # type: ignore[arg-type]
                .limit(capacity)
            )
            if self.db.is_postgres:
                # Replicas share the work: a delivery one of them claimed is skipped by the others.
                query = query.with_for_update(skip_locked=True, of=WebhookDelivery)  # type: ignore[arg-type]
            rows = list((await session.exec(query)).all())
            claims = []
            for delivery, endpoint, body in rows:
                # The lease: should this process die mid-delivery, the delivery is due again after it.
                delivery.next_attempt_at = now + self.lease
                session.add(delivery)
                claims.append(
                    Claim(delivery.id, endpoint.id, endpoint.url, endpoint.secret, body, delivery.attempts + 1)
                )
        for claim in claims:
            task = asyncio.create_task(self.deliver(claim), name=f"webhook-{claim.delivery_id}")
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def deliver(self, claim: Claim) -> None:
        try:
            outcome = await self.send(claim)
            await self.record(claim, outcome)
        except Exception:
            log.exception("webhook delivery %s could not be recorded; it is retried after its lease", claim.delivery_id)

    async def send(self, claim: Claim) -> Outcome:
        assert self._http is not None
        now = utcnow()
        headers = {
            "content-type": "application/cloudevents+json",
            "webhook-id": claim.delivery_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(claim.secret).sign(claim.delivery_id, now, claim.body),
        }
        started = time.perf_counter()

        def took() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            host, _ = parse_target(claim.url)
            literal = parse_ip(host)
            # aiohttp does not ask the resolver about a literal IP, so judge it here.
            reason = self.policy.refusal(literal) if literal is not None else None
            if reason:
                raise ForbiddenTarget(f"{literal} is a {reason} address")
            async with self._http.post(
                claim.url, data=claim.body.encode(), headers=headers, allow_redirects=False
            ) as response:
                delivered, retryable = classify(response.status)
                error = None if delivered else f"endpoint answered {response.status}"
                if response.status in (301, 302, 303, 307, 308):
                    error = f"endpoint answered {response.status} (redirects are not followed)"
                return Outcome(
                    delivered,
                    retryable,
                    response.status,
                    error,
                    took(),
                    _retry_after(response.headers.get("Retry-After")) if retryable else None,
                )
        except Invalid as exc:
            return Outcome(False, False, None, exc.detail, took())
        except aiohttp.ClientConnectorDNSError as exc:
            if isinstance(exc.os_error, ForbiddenTarget):
                return Outcome(False, False, None, f"refused: {exc.os_error}", took())
            return Outcome(False, True, None, f"DNS lookup failed: {exc.os_error}", took())
        except ForbiddenTarget as exc:
            return Outcome(False, False, None, f"refused: {exc}", took())
        except TimeoutError:
            return Outcome(False, True, None, f"no answer within {self.tuning.timeout_seconds:g} s", took())
        except (aiohttp.ClientError, OSError) as exc:
            return Outcome(False, True, None, f"{type(exc).__name__}: {exc}"[:500], took())

    async def record(self, claim: Claim, outcome: Outcome) -> None:
        now = utcnow()
        schedule = self.tuning.retry_schedule
        async with self.db.session() as session, session.begin():
            delivery = (
                await session.exec(
                    select(WebhookDelivery).where(WebhookDelivery.id == claim.delivery_id).with_for_update()
                )
            ).first()
            endpoint = (
                await session.exec(
                    select(WebhookEndpoint).where(WebhookEndpoint.id == claim.endpoint_id).with_for_update()
                )
            ).first()
            if delivery is None or endpoint is None:
                return  # the endpoint was deleted meanwhile
            delivery.attempts = claim.attempt
            next_at: datetime | None = None
            if outcome.delivered:
                state = "delivered"
                endpoint.consecutive_failures = 0
                endpoint.failing_since = None
            elif outcome.retryable and claim.attempt <= len(schedule):
                state = "retrying"
                delay = schedule[claim.attempt - 1]
                if outcome.retry_after is not None:
                    delay = min(max(delay, outcome.retry_after), max(schedule))
                next_at = now + timedelta(seconds=delay)
            else:
                state = "failed"
                endpoint.consecutive_failures += 1
            if not outcome.delivered:
                endpoint.failing_since = endpoint.failing_since or now
            disable = self._disable_reason(endpoint, now) if endpoint.status == "active" else None
            if disable:
                state, next_at = "failed", None
            delivery.state = state
            delivery.next_attempt_at = next_at
            delivery.finished_at = now if state in ("delivered", "failed") else None
            session.add(delivery)
            session.add(
                WebhookAttempt(
                    endpoint_id=endpoint.id,
                    delivery_id=delivery.id,
                    event_id=delivery.event_id,
                    event_type=delivery.event_type,
                    attempt=claim.attempt,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    at=now,
                    duration_ms=outcome.duration_ms,
                    state=state,
                    next_attempt_at=next_at,
                )
            )
            if disable:
                endpoint.status = "disabled"
                endpoint.disabled_at = now
                endpoint.disabled_reason = disable
                # What it still owed is given up with it.
                await session.exec(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.endpoint_id == endpoint.id,  # type: ignore[arg-type]
                        WebhookDelivery.id != delivery.id,  # type: ignore[arg-type]
                        WebhookDelivery.state.in_(("pending", "retrying")),  # type: ignore[attr-defined]
                    )
                    .values(state="failed", next_attempt_at=None, finished_at=now)
                )
                log.warning("webhook %s (%s) disabled: %s", endpoint.id, endpoint.url, disable)
            session.add(endpoint)

    def _disable_reason(self, endpoint: WebhookEndpoint, now: datetime) -> str | None:
        if endpoint.consecutive_failures >= self.tuning.disable_after_failures:
            return f"{endpoint.consecutive_failures} deliveries in a row failed"
        if endpoint.failing_since is not None and now - endpoint.failing_since >= timedelta(
            hours=self.tuning.disable_after_hours
        ):
            return f"every delivery attempt failed since {endpoint.failing_since.isoformat()}"
        return None


async def start(app: FastAPI) -> None:
    """Start the delivery worker (after the timeline consumer: it follows the timeline)."""
    worker = WebhookWorker(app.state.db, app)
    app.state.webhook_worker = worker
    app.state.webhook_task = asyncio.create_task(worker.run(), name="gateway-webhooks")


async def stop(app: FastAPI) -> None:
    worker: WebhookWorker | None = getattr(app.state, "webhook_worker", None)
    task: asyncio.Task[None] | None = getattr(app.state, "webhook_task", None)
    if worker is not None:
        worker.stop()
    if task is not None:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, (worker.tuning.timeout_seconds if worker else 10) + 5)
