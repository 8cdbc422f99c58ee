"""The event timeline: every department's events stored by the gateway, its history API and live SSE stream.

A kernel Consumer (service "gateway", its own group, inbox and DLQ) subscribes to all five
department topics and writes each CloudEvent into `timeline_event`. The autoincrement `seq` is
the timeline's order, the SSE event id and the webhook worker's cursor. A commit wakes the open
streams in this process; a short poll covers events written by another gateway replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, Header, Query, Request
from pydantic import StringConstraints
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import event as sa_event
from sqlalchemy import func, or_, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import select
from sse_starlette import EventSourceResponse, ServerSentEvent

from gateway import identity
from gateway.models.events import TimelineEntry, TimelineEvent
from gateway.state import state_of

# The relay as the kernel wires it for a service (hanse.app); the gateway publishes through its
# outbox with uow.publish like a department and only runs the relay (kernel need: a public factory).
from hanse.app import Relay
from hanse.auth import Principal, require_roles
from hanse.consumer import Consumer
from hanse.db import Database
from hanse.errors import Invalid
from hanse.events import EventPayload, utcnow
from hanse.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from hanse.privacy import pseudonym
from hanse.uow import UnitOfWork
from services import event_registry
from services.compliance.contract import PrivacyRequestOpened

log = logging.getLogger("hanse.gateway.events")

router = APIRouter(tags=["events"])

# Who may read the timeline: every staff role and partner apps (admin passes every check).
TimelineReader = Annotated[
    Principal, require_roles("marketing", "sales", "compliance", "finance", "logistics", "procurement", "partner")
]

# An exact type (`sales.order.placed.v1`), a prefix ending in a dot (`sales.order.`), or `*` for all.
TYPE_FILTER = r"^(\*|[a-z][a-z0-9_]*(\.[a-z0-9_]+)*\.?)$"
TypeFilter = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=TYPE_FILTER)]
TypeFilters = Annotated[
    list[TypeFilter] | None,
    Query(max_length=50, description="event types: exact, a prefix ending in '.', or '*'; repeat for several"),
]
CorrelationFilter = Annotated[
    str | None, Query(min_length=1, max_length=255, description="the business flow, e.g. an order id")
]

# Any fixed number: the transaction-level advisory lock that orders timeline writes on PostgreSQL.
_TIMELINE_LOCK = 0x48414E5345  # "HANSE"
_SEQ = re.compile(r"^\d{1,18}$")


class StreamSettings(BaseSettings):
    """Tuning of the live stream (env HANSE_EVENTS_*)."""

    model_config = SettingsConfigDict(env_prefix="HANSE_EVENTS_", extra="ignore")

    heartbeat_seconds: float = 15.0
    # Fallback poll for events written by another gateway replica (this process wakes streams at once).
    poll_seconds: float = 2.0
    page_size: int = 200
    # A client that does not take a message within this time is dropped (it reconnects with Last-Event-ID).
    send_timeout_seconds: float = 30.0


class TimelineHub:
    """Wakes every waiting stream when a timeline write commits; holds no events itself."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def current(self) -> asyncio.Event:
        return self._changed

    def notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait(self, seen: asyncio.Event, timeout: float) -> None:
        """Until something committed after `seen` was taken, or `timeout` passed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(seen.wait(), timeout)


# -- filters --------------------------------------------------------------------------------------


def type_matches(event_type: str, patterns: Sequence[str]) -> bool:
    """The same rule as the SQL filter, for the webhook worker."""
    return any(p == "*" or event_type == p or (p.endswith(".") and event_type.startswith(p)) for p in patterns)


def _type_clause(patterns: Sequence[str]) -> ColumnElement[bool] | None:
    if not patterns or "*" in patterns:
        return None
    clauses = [
        TimelineEvent.type.startswith(p, autoescape=True) if p.endswith(".") else TimelineEvent.type == p  # type: ignore[attr-defined]
        for p in patterns
    ]
    return or_(*clauses)


def _filters(correlation_id: str | None, types: Sequence[str] | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if correlation_id is not None:
        where.append(TimelineEvent.correlation_id == correlation_id)  # type: ignore[arg-type]
    clause = _type_clause(types or ())
    if clause is not None:
        where.append(clause)
    return where


def entry(row: TimelineEvent) -> TimelineEntry:
    assert row.seq is not None
    return TimelineEntry(seq=row.seq, topic=row.topic, received_at=row.received_at, event=orjson.loads(row.cloudevent))


# -- queries ----------------------------------------------------------------------------------------


async def latest_seq(db: Database) -> int:
    async with db.read_session() as session:
        return int((await session.exec(select(func.max(TimelineEvent.seq)))).one() or 0)


async def events_after(
    db: Database, after: int, where: list[ColumnElement[bool]], limit: int
) -> tuple[list[TimelineEvent], int]:
    """Matching events after `after` (at most `limit`) and the highest seq scanned.

    Both come from one snapshot, and no seq up to `high` can still be uncommitted (writes are
    serialised), so a stream that moves its cursor to `high` skips nothing.
    """
    async with db.read_session() as session:
        high = int((await session.exec(select(func.max(TimelineEvent.seq)))).one() or 0)
        if high <= after:
            return [], after
        query = (
            select(TimelineEvent)
            .where(TimelineEvent.seq > after, TimelineEvent.seq <= high, *where)  # type: ignore[operator]
            .order_by(TimelineEvent.seq)  # type: ignore[arg-type]
            .limit(limit)
        )
        rows = list((await session.exec(query)).all())
    if len(rows) == limit:
        assert rows[-1].seq is not None
        return rows, rows[-1].seq
    return rows, high


async def timeline_of(db: Database, correlation_id: str, limit: int = 1000) -> list[TimelineEntry]:
    """The events of one business flow (an order, a lead) in the order they happened.

    That is the producers' event time, not arrival: the gateway reads five topics, so a reaction
    (compliance screening an order) can arrive before its cause (the order placed) does.
    """
    query = (
        select(TimelineEvent)
        .where(TimelineEvent.correlation_id == correlation_id)
        .order_by(TimelineEvent.time, TimelineEvent.seq)  # type: ignore[arg-type]
        .limit(limit)
    )
    async with db.read_session() as session:
        return [entry(r) for r in (await session.exec(query)).all()]


# -- the consumer --------------------------------------------------------------------------------


def _timeline_handler(db: Database, hub: TimelineHub, settings: Any) -> Any:
    reg = event_registry()
    table = TimelineEvent.__table__  # type: ignore[attr-defined]
    # Built once, the values bound per event: building `insert().values(...)` per event (and its
    # cache key) cost more than running it.
    inserts = {
        "postgresql": pg_insert(table).on_conflict_do_nothing(index_elements=["event_id"]),
        "sqlite": sqlite_insert(table).on_conflict_do_nothing(index_elements=["event_id"]),
    }

    async def record_event(uow: UnitOfWork[None], payload: EventPayload) -> None:
        session = uow.session
        conn = await session.connection()
        postgres = conn.dialect.name == "postgresql"
        if postgres and not session.info.get("timeline_locked"):
            # Serialise writers across replicas so seq order is commit order: a stream that has
            # read seq N never later finds a smaller seq appearing behind it.
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _TIMELINE_LOCK})
            session.info["timeline_locked"] = True
        event = uow.cause
        values = {
            "event_id": event.id,
            "type": event.type,
            "source": event.source,
            "subject": event.subject,
            "time": event.time,
            "correlation_id": event.correlationid,
            "causation_id": event.causationid,
            "topic": settings.topic(reg.department(event.type)),
            "cloudevent": event.to_json().decode(),
            "received_at": utcnow(),
        }
        await conn.execute(inserts[conn.dialect.name], values)
        if not session.info.get("timeline_notify"):
            session.info["timeline_notify"] = True
            sa_event.listen(session.sync_session, "after_commit", lambda _s: hub.notify(), once=True)

    return record_event


def hub_of(app: FastAPI) -> TimelineHub:
    return state_of(app, "timeline_hub", TimelineHub)


def stream_settings_of(app: FastAPI) -> StreamSettings:
    return state_of(app, "stream_settings", StreamSettings)


async def _timeline_privacy(session: Any, settings: Any, opened: PrivacyRequestOpened) -> tuple[list[Any], int]:
    """The stored events that carry the person's address (lead captured, account created, order
    placed, the request itself ...): an access request lists them; an erasure replaces the address
    in each stored CloudEvent by its pseudonym, so the history API, SSE replays and partner webhooks
    no longer hand it out. Returns (rows found, rows changed).

    A scan over the stored JSON: privacy requests are rare, the timeline has no index on contents.
    """
    email = opened.email.strip().lower()
    table = TimelineEvent.__table__  # type: ignore[attr-defined]
    found = (
        await session.exec(
            select(table.c.seq, table.c.type, table.c.time, table.c.correlation_id, table.c.cloudevent).where(
                func.lower(table.c.cloudevent).contains(email, autoescape=True)
            )
        )
    ).all()
    # The request's own events name the address because they are the request: scrubbed, not counted.
    about = [row for row in found if row.correlation_id != opened.request_id]
    if opened.kind == "access":
        return about, 0
    stand_in = pseudonym(email, settings.signing_secret())
    address = re.compile(re.escape(email), re.IGNORECASE)
    for row in found:
        await session.exec(
            table.update().where(table.c.seq == row.seq).values(cloudevent=address.sub(stand_in, row.cloudevent))
        )
    return about, len(about)


def _privacy_handler(record_event: Any, settings: Any) -> Any:
    """A privacy request reaches the user store and the timeline: the gateway answers like a department."""

    async def on_privacy_request(uow: UnitOfWork[None], payload: EventPayload) -> None:
        await record_event(uow, payload)  # the request itself carries the address: scrubbed below too
        opened = PrivacyRequestOpened.model_validate(payload.model_dump())
        answer = await identity.answer_privacy_request(uow.session, settings, opened)
        events, changed = await _timeline_privacy(uow.session, settings, opened)
        update: dict[str, Any] = {"records": answer.records + len(events)}
        if opened.kind == "access":
            update["export"] = {
                **answer.export,
                "timeline_events": [
                    {"seq": e.seq, "type": e.type, "time": e.time.isoformat(), "correlation_id": e.correlation_id}
                    for e in events
                ],
            }
        else:
            update["pseudonymised"] = answer.pseudonymised + changed
        await uow.publish(answer.model_copy(update=update), correlation_id=opened.request_id)

    return on_privacy_request


async def start(app: FastAPI) -> None:
    """Consume every department topic into the timeline; publish the gateway's own events."""
    settings = app.state.settings
    db: Database = app.state.db
    hub = hub_of(app)
    stream_settings_of(app)
    record_event = _timeline_handler(db, hub, settings)
    handlers = dict.fromkeys(event_registry().types(), record_event)
    handlers[PrivacyRequestOpened.event_type] = _privacy_handler(record_event, settings)
    # The gateway's outbox (its answers to privacy requests) goes out on hanse.gateway.
    relay = Relay(db, settings, app.state.metrics, topics=[settings.topic("gateway")])
    app.state.gateway_relay = relay
    app.state.gateway_relay_task = asyncio.create_task(relay.run(), name="gateway-relay")
    consumer = Consumer("gateway", db, settings, handlers, event_registry(), app.state.metrics)
    app.state.timeline_consumer = consumer
    app.state.timeline_task = asyncio.create_task(consumer.run(), name="gateway-timeline")


async def stop(app: FastAPI) -> None:
    consumer: Consumer | None = getattr(app.state, "timeline_consumer", None)
    task: asyncio.Task[None] | None = getattr(app.state, "timeline_task", None)
    if consumer is not None:
        await consumer.stop()
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    relay: Relay | None = getattr(app.state, "gateway_relay", None)
    relay_task: asyncio.Task[None] | None = getattr(app.state, "gateway_relay_task", None)
    if relay is not None:
        await relay.stop()
    if relay_task is not None:
        relay_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await relay_task


# -- routes ------------------------------------------------------------------------------------------


@router.get(
    "/api/v1/events",
    summary="Timeline history: stored events, oldest first",
    responses={401: {"description": "no valid token"}, 403: {"description": "role not allowed"}},
)
async def list_events(
    request: Request,
    _: TimelineReader,
    correlation_id: CorrelationFilter = None,
    type: TypeFilters = None,
    after: Annotated[int | None, Query(ge=0, le=10**18, description="only events with a larger seq")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[TimelineEntry]:
    start_after = after or 0
    if cursor:
        value = decode_cursor(cursor)
        if not _SEQ.match(value):
            raise Invalid("cursor is not one this API issued", field="cursor")
        start_after = max(start_after, int(value))
    rows, _ = await events_after(request.app.state.db, start_after, _filters(correlation_id, type), limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].seq) if more and rows else None
    return Page[TimelineEntry](items=[entry(r) for r in rows], next_cursor=next_cursor)


async def _follow(
    db: Database, hub: TimelineHub, after: int, where: list[ColumnElement[bool]], tuning: StreamSettings
) -> AsyncIterator[ServerSentEvent]:
    """Everything matching after `after`, then live; one page in memory at a time."""
    cursor = after
    while True:
        seen = hub.current()  # taken before reading, so a commit during the read still wakes us
        rows, cursor = await events_after(db, cursor, where, tuning.page_size)
        for row in rows:
            yield ServerSentEvent(data=row.cloudevent, id=str(row.seq), event=row.type)
        if len(rows) < tuning.page_size:
            await hub.wait(seen, tuning.poll_seconds)


@router.get(
    "/api/v1/events/stream",
    summary="Live timeline as Server-Sent Events; resume with Last-Event-ID",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "id: seq, event: CloudEvent type, data: CloudEvent"},
        401: {"description": "no valid token"},
        403: {"description": "role not allowed"},
    },
)
async def stream_events(
    request: Request,
    _: TimelineReader,
    correlation_id: CorrelationFilter = None,
    type: TypeFilters = None,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", pattern=r"^\d{1,18}$", description="resume after this seq (0: from the start)"),
    ] = None,
) -> EventSourceResponse:
    app = request.app
    db: Database = app.state.db
    tuning = stream_settings_of(app)
    after = int(last_event_id) if last_event_id is not None else await latest_seq(db)
    return EventSourceResponse(
        _follow(db, hub_of(app), after, _filters(correlation_id, type), tuning),
        ping=tuning.heartbeat_seconds,
        send_timeout=tuning.send_timeout_seconds,
        headers={"Cache-Control": "no-store"},
    )
