"""The gateway's event timeline on the real broker and databases: store, history and the live SSE stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway import app as gateway_app
from gateway.events import StreamSettings
from hanse.auth import issue_token
from hanse.events import CloudEvent, EventPayload, make_event
from hanse.money import Money
from hanse.settings import Settings
from services.compliance.contract import OrderHeld
from services.finance.contract import InvoiceVoided
from services.logistics.contract import ShipmentDispatched
from services.marketing.contract import CampaignCreated
from services.sales.contract import OrderCancelled, OrderStatusChanged
from tests.conftest import free_port, make_settings
from tests.support.kafka import eventually, read_all, send_raw
from tests.support.service import serve_on_port

ADMIN_PASSWORD = "gateway-test-admin-password"


@dataclass
class RunningGateway:
    app: FastAPI
    url: str
    client: httpx.AsyncClient
    settings: Settings

    def auth(self, *roles: str, subject: str = "tester", kind: str = "user") -> dict[str, str]:
        token, _ = issue_token(subject, list(roles), self.settings, kind=kind)
        return {"Authorization": f"Bearer {token}"}

    async def publish(self, payload: EventPayload, *, correlation_id: str | None = None) -> CloudEvent:
        """Publish an event on its department's topic as that department's outbox relay would."""
        department = payload.event_type.split(".", 1)[0]
        event = make_event(payload, source_department=department, correlation_id=correlation_id)
        await self.publish_raw(department, event.to_json(), (event.subject or event.id).encode())
        return event

    async def publish_raw(self, department: str, value: bytes, key: bytes) -> None:
        await send_raw(self.settings.kafka_bootstrap_servers, self.settings.topic(department), value, key)

    async def timeline(self, **params: Any) -> list[dict[str, Any]]:
        r = await self.client.get("/api/v1/events", params={"limit": 200, **params}, headers=self.auth("sales"))
        assert r.status_code == 200, r.text
        return r.json()["items"]


@asynccontextmanager
async def running_gateway(
    settings: Settings,
    *,
    upstreams: dict[str, str] | None = None,
    state: dict[str, Any] | None = None,
) -> AsyncIterator[RunningGateway]:
    """The gateway app with its real lifespan, served by uvicorn on a free loopback port."""
    proxy = gateway_app.build(settings)
    app: FastAPI = proxy.app  # type: ignore[assignment]
    proxy.upstreams.update(upstreams or {})
    for name, value in (state or {}).items():
        setattr(app.state, name, value)
    async with serve_on_port(proxy, free_port()) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        yield RunningGateway(app, url, client, settings)


def gateway_settings(settings: Settings, **overrides: Any) -> Settings:
    return settings.model_copy(update={"admin_password": ADMIN_PASSWORD, **overrides})


def sqlite_gateway_settings(bootstrap: str, tmp_path: Path) -> Settings:
    """For rules that do not depend on the database engine: SQLite only, HANSE_ENV=test."""
    return gateway_settings(make_settings(bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"))


@pytest.fixture
def sqlite_settings(broker, tmp_path) -> Settings:
    return sqlite_gateway_settings(broker.bootstrap, tmp_path)


class SseReader:
    """A minimal SSE client over an httpx stream: yields (fields) per message, and counts comments."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()
        self.comments = 0

    async def next_message(self, timeout: float = 20.0) -> dict[str, str]:
        async def read() -> dict[str, str]:
            fields: dict[str, str] = {}
            async for line in self.lines:
                if line == "":
                    if fields:
                        return fields
                    continue
                if line.startswith(":"):
                    self.comments += 1
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                fields[name] = fields[name] + "\n" + value if name in fields else value
            raise AssertionError("stream ended")

        return await asyncio.wait_for(read(), timeout)

    async def next_comment(self, timeout: float) -> None:
        seen = self.comments

        async def read() -> None:
            async for line in self.lines:
                if line.startswith(":"):
                    self.comments += 1
                    return
                assert line == "", f"expected only a heartbeat, got {line!r}"

        await asyncio.wait_for(read(), timeout)
        assert self.comments == seen + 1


@asynccontextmanager
async def sse(gw: RunningGateway, params: dict[str, Any], headers: dict[str, str]) -> AsyncIterator[SseReader]:
    async with httpx.AsyncClient(base_url=gw.url, timeout=httpx.Timeout(30, read=None)) as client:
        async with client.stream("GET", "/api/v1/events/stream", params=params, headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"].startswith("text/event-stream")
            yield SseReader(response)


def status_changed(order_id: str, status: str = "placed") -> OrderStatusChanged:
    return OrderStatusChanged(order_id=order_id, status=status)


async def test_timeline_stores_every_departments_events_once_in_arrival_order(settings):
    async with running_gateway(gateway_settings(settings)) as gw:
        order, other = "ord-timeline-1", "ord-timeline-2"
        placed = await gw.publish(status_changed(order))
        await gw.publish(status_changed(other))
        held = await gw.publish(OrderHeld(order_id=order, check_id="chk-1", reasons=["watchlist"]))
        # Departments correlate everything about an order by the order id (the subject is their own id).
        voided = await gw.publish(
            InvoiceVoided(invoice_id="inv-1", order_id=order, reason="cancelled"), correlation_id=order
        )
        dispatched = await gw.publish(
            ShipmentDispatched(shipment_id="shp-1", order_id=order, at=datetime(2025, 3, 2, tzinfo=UTC)),
            correlation_id=order,
        )
        campaign = await gw.publish(
            CampaignCreated(
                campaign_id="cmp-1",
                name="Spring fair",
                channel="trade_show",
                utm_campaign="spring",
                budget=Money(amount=Decimal("1500.00"), currency="EUR"),
            )
        )
        # A redelivered event (same id) is stored once.
        await gw.publish_raw("sales", placed.to_json(), order.encode())

        async def all_six():
            items = await gw.timeline()
            return items if len(items) >= 6 else None

        items = await eventually(all_six)
        await asyncio.sleep(1.0)  # give the redelivery time to arrive: it must not add a row
        items = await gw.timeline()
        assert len(items) == 6
        assert [i["seq"] for i in items] == sorted(i["seq"] for i in items)
        by_id = {i["event"]["id"]: i for i in items}
        assert {placed.id, held.id, voided.id, dispatched.id, campaign.id} < set(by_id)
        stored = by_id[held.id]
        assert stored["topic"] == gw.settings.topic("compliance")
        assert stored["event"] == json.loads(held.to_json())  # the CloudEvent as the department sent it
        assert stored["event"]["correlationid"] == order
        assert by_id[campaign.id]["event"]["data"]["budget"] == {"amount": "1500.00", "currency": "EUR"}

        # Events of different topics arrive in any order; the timeline keeps the order they arrived in.
        flow = await gw.timeline(correlation_id=order)
        assert {i["event"]["id"] for i in flow} == {placed.id, held.id, voided.id, dispatched.id}
        assert [i["seq"] for i in flow] == [i["seq"] for i in items if i["event"]["correlationid"] == order]

        sales_orders = await gw.timeline(type="sales.order.")
        assert {i["event"]["subject"] for i in sales_orders} == {order, other}
        # `_` in a prefix is a literal, not a LIKE wildcard.
        assert await gw.timeline(type="sales_order.") == []
        both = await gw.timeline(type=["compliance.order.held.v1", "finance."], correlation_id=order)
        assert {i["event"]["id"] for i in both} == {held.id, voided.id}

        first = await gw.client.get("/api/v1/events", params={"limit": 2}, headers=gw.auth("partner"))
        assert first.status_code == 200 and len(first.json()["items"]) == 2
        rest = await gw.client.get(
            "/api/v1/events", params={"limit": 200, "cursor": first.json()["next_cursor"]}, headers=gw.auth("finance")
        )
        assert [i["seq"] for i in first.json()["items"] + rest.json()["items"]] == [i["seq"] for i in items]
        after = await gw.timeline(after=items[3]["seq"])
        assert [i["seq"] for i in after] == [i["seq"] for i in items[4:]]


async def test_malformed_event_goes_to_the_gateway_dlq_and_the_timeline_goes_on(sqlite_settings):
    async with running_gateway(sqlite_settings) as gw:
        bad = make_event(status_changed("ord-bad"), source_department="sales")
        raw = json.loads(bad.to_json())
        raw["data"]["status"] = "teleported"  # not an order status: fails the producer's contract
        await gw.publish_raw("sales", json.dumps(raw).encode(), b"ord-bad")
        await gw.publish_raw("sales", b"{not json", b"ord-bad")
        good = await gw.publish(status_changed("ord-good"))
        await eventually(lambda: _has(gw, good.id))
        dead = await read_all(gw.settings.kafka_bootstrap_servers, gw.settings.dlq_topic("gateway"), expect=2)
        reasons = sorted(dict(d.headers)["hanse-dlq-reason"] for d in dead)
        assert reasons == [b"invalid-payload", b"not-json"]
        assert [i["event"]["id"] for i in await gw.timeline()] == [good.id]


async def _has(gw: RunningGateway, event_id: str) -> bool:
    return any(i["event"]["id"] == event_id for i in await gw.timeline())


async def test_history_and_stream_refuse_bad_filters_and_callers(sqlite_settings):
    async with running_gateway(sqlite_settings) as gw:
        c, h = gw.client, gw.auth("sales")
        assert (await c.get("/api/v1/events")).status_code == 401
        for path in ("/api/v1/events", "/api/v1/events/stream"):
            for params, field in (
                ({"type": "Sales.Order"}, "query.type.0"),
                ({"type": "sales..order"}, "query.type.0"),
                ({"correlation_id": ""}, "query.correlation_id"),
            ):
                r = await c.get(path, params=params, headers=h)
                assert r.status_code == 422, (path, params, r.text)
                assert r.headers["content-type"] == "application/problem+json"
                assert r.json()["field"] == field
        r = await c.get("/api/v1/events", params={"after": -1}, headers=h)
        assert r.status_code == 422 and r.json()["field"] == "query.after"
        r = await c.get("/api/v1/events", params={"cursor": "!!"}, headers=h)
        assert r.status_code == 422 and r.json()["field"] == "cursor"
        r = await c.get("/api/v1/events/stream", headers={**h, "Last-Event-ID": "abc"})
        assert r.status_code == 422 and r.json()["field"].lower() == "header.last-event-id"
        r = await c.get("/api/v1/events/stream", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"


async def test_sse_client_with_a_correlation_filter_sees_its_order_live_and_resumes_after_last_event_id(settings):
    tuning = StreamSettings(heartbeat_seconds=0.5, poll_seconds=5.0)
    async with running_gateway(gateway_settings(settings), state={"stream_settings": tuning}) as gw:
        order, other = "ord-live-1", "ord-live-2"
        before = await gw.publish(status_changed(order))  # before the client connects: not replayed
        await eventually(lambda: _has(gw, before.id))
        headers = gw.auth("partner", subject="forwarder-app", kind="client")
        async with sse(gw, {"correlation_id": order}, headers) as stream:
            await gw.publish(status_changed(other))
            placed = await gw.publish(status_changed(order, "on_hold"))
            message = await stream.next_message()
            assert message["event"] == "sales.order.status_changed.v1"
            assert json.loads(message["data"]) == json.loads(placed.to_json())
            first_id = int(message["id"])
            # Heartbeats (comment lines) keep an idle stream open.
            await stream.next_comment(timeout=5)
            cancelled = await gw.publish(OrderCancelled(order_id=order, previous_status="on_hold"))
            second = await stream.next_message()
            assert second["event"] == "sales.order.cancelled.v1" and int(second["id"]) > first_id
            assert json.loads(second["data"])["id"] == cancelled.id

        # Events after the client left are sent on resume, then live ones, filtered by type prefix too.
        missed = await gw.publish(
            InvoiceVoided(invoice_id="inv-9", order_id=order, reason="cancelled"), correlation_id=order
        )
        await gw.publish(status_changed(order, "cancelled"))
        await eventually(lambda: _has(gw, missed.id))
        resume = {**headers, "Last-Event-ID": str(first_id)}
        async with sse(gw, {"correlation_id": order, "type": ["sales.order.cancelled.v1", "finance."]}, resume) as s:
            again = await s.next_message()
            assert json.loads(again["data"])["id"] == cancelled.id and again["id"] == second["id"]
            assert json.loads((await s.next_message())["data"])["id"] == missed.id
            live = await gw.publish(
                InvoiceVoided(invoice_id="inv-10", order_id=order, reason="x"), correlation_id=order
            )
            assert json.loads((await s.next_message())["data"])["id"] == live.id

        # Last-Event-ID: 0 replays the whole flow from the start.
        async with sse(gw, {"correlation_id": order}, {**headers, "Last-Event-ID": "0"}) as s:
            assert json.loads((await s.next_message())["data"])["id"] == before.id


async def test_many_events_reach_a_resuming_client_in_pages_in_order(settings):
    tuning = StreamSettings(page_size=7, poll_seconds=0.5)
    async with running_gateway(gateway_settings(settings), state={"stream_settings": tuning}) as gw:
        sent = [await gw.publish(status_changed(f"ord-many-{i}"), correlation_id="flow-many") for i in range(25)]
        await eventually(lambda: _count(gw, "flow-many", 25))
        async with sse(gw, {"correlation_id": "flow-many"}, {**gw.auth("logistics"), "Last-Event-ID": "0"}) as s:
            got = [await s.next_message() for _ in range(25)]
        assert sorted(json.loads(m["data"])["id"] for m in got) == sorted(e.id for e in sent)
        stored = [i["seq"] for i in await gw.timeline(correlation_id="flow-many")]
        assert [int(m["id"]) for m in got] == stored


async def _count(gw: RunningGateway, correlation_id: str, n: int) -> bool:
    return len(await gw.timeline(correlation_id=correlation_id)) >= n
