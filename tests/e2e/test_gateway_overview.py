"""The platform as `make dev` runs it: an order placed at the gateway on the live event stream and in its overview."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Platform, alive, wait_for
from tests.e2e.flow import Gateway, flow_events, unique
from tests.integration.test_gateway_events import SseReader

pytestmark = pytest.mark.e2e


@asynccontextmanager
async def event_stream(platform: Platform, params: dict[str, Any], headers: dict[str, str]) -> AsyncIterator[SseReader]:
    async with httpx.AsyncClient(base_url=platform.gateway, timeout=httpx.Timeout(30, read=None)) as client:
        async with client.stream("GET", "/api/v1/events/stream", params=params, headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            yield SseReader(response)


async def place_order(gw: Gateway) -> tuple[dict, dict]:
    """A stocked product and a quote (EXW: no freight) for a new buyer; returns (quote, admin headers)."""
    sku, _ = await gw.stocked_product(10)
    account = await gw.account(unique("Nordhafen Trading"))
    quote = await gw.quote(account, sku, 2, incoterm="EXW", named_place="Hamburg")
    return quote, dict(gw.client.headers)


async def overview(gw: Gateway, order_id: str, expect: int = 200) -> dict:
    return await gw.get(f"/orders/{order_id}/overview", expect=expect)


async def test_an_order_placed_at_the_gateway_is_streamed_live_and_shown_whole_in_its_overview(platform: Platform):
    gw = Gateway(platform)
    try:
        quote, headers = await place_order(gw)
        # Connected before the order exists: the live part of the stream, filtered by type.
        async with event_stream(platform, {"type": "sales.order.placed.v1"}, headers) as stream:
            order = await gw.post(f"/sales/quotes/{quote['id']}/accept")
            while True:
                message = await stream.next_message(timeout=30)
                placed = json.loads(message["data"])
                if placed["data"]["order_id"] == order["id"]:
                    break
        assert message["event"] == "sales.order.placed.v1"
        assert placed["correlationid"] == order["id"] and placed["source"] == "/hanse/sales"

        # A client following only this order, resuming from the start, gets its events replayed in
        # arrival order (a reaction from another topic may have arrived before its cause).
        async with event_stream(platform, {"correlation_id": order["id"]}, {**headers, "Last-Event-ID": "0"}) as s:
            replayed = [await s.next_message()]
            while replayed[-1]["event"] != "sales.order.placed.v1":
                replayed.append(await s.next_message())
        assert json.loads(replayed[-1]["data"])["id"] == placed["id"] and replayed[-1]["id"] == message["id"]
        assert [int(m["id"]) for m in replayed] == sorted(int(m["id"]) for m in replayed)
        assert all(json.loads(m["data"])["correlationid"] == order["id"] for m in replayed)

        async def complete():
            body = await overview(gw, order["id"])
            types = {e["event"]["type"] for e in body["timeline"]}
            wanted = {"sales.order.placed.v1", "compliance.order.cleared.v1", "finance.invoice.issued.v1"}
            return body if body["invoices"] and body["compliance"] and wanted <= types else None

        body = await gw.eventually(complete, "the overview showing clearance and the proforma invoice")
        assert body["degraded"] == []
        assert body["order"]["id"] == order["id"] and body["order"]["quote_id"] == quote["id"]
        assert [c["result"] for c in body["compliance"]] == ["clear"]
        # The proforma first; the commercial invoice follows once the shipment is booked (net terms).
        assert [i["kind"] for i in body["invoices"]] in (["proforma"], ["proforma", "commercial"])
        assert body["invoices"][0]["total"]["currency"] == "EUR"
        assert body["payments"] == []
        assert isinstance(body["shipments"], list)
        # The overview's timeline is in the order things happened: the order placed comes first.
        times = [e["event"]["time"] for e in body["timeline"]]
        assert times == sorted(times) and all(e["event"]["correlationid"] == order["id"] for e in body["timeline"])
        assert body["timeline"][0]["event"]["type"] == "sales.order.placed.v1"

        missing = await gw.call("GET", "/orders/no-such-order/overview")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    finally:
        await gw.close()


async def test_the_overview_names_a_department_that_is_down_and_answers_with_the_rest(platform: Platform):
    gw = Gateway(platform)
    try:
        quote, _ = await place_order(gw)
        order = await gw.post(f"/sales/quotes/{quote['id']}/accept")

        async def invoiced():
            body = await overview(gw, order["id"])
            return body if body["invoices"] else None

        await gw.eventually(invoiced, "the proforma invoice")
        finance = platform.pids()["finance"]
        os.kill(finance, signal.SIGKILL)
        await wait_for(lambda: _dead(finance), timeout=10, interval=0.02)

        body = await overview(gw, order["id"])  # at once, before the supervisor has finance back
        for section in ("invoices", "payments"):
            assert body[section]["status"] == "unavailable" and body[section]["department"] == "finance", body
            assert "finance" in body[section]["detail"]
        assert body["degraded"] == ["finance"]
        assert body["order"]["id"] == order["id"]
        assert [c["result"] for c in body["compliance"]] == ["clear"]
        assert any(e["event"]["type"] == "finance.invoice.issued.v1" for e in body["timeline"])

        async def finance_back():
            try:
                return httpx.get(f"{platform.services['finance']}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_for(finance_back, timeout=60)
        assert (await overview(gw, order["id"]))["degraded"] == []
    finally:
        await gw.close()


async def test_the_overview_of_an_order_sales_shows_as_ready_to_ship_has_its_whole_history(platform: Platform):
    """The timeline keeps up: asked the moment sales shows the order's new status, the overview's
    timeline holds every event that led to it, although the gateway consumes them beside sales."""
    gw = Gateway(platform)
    try:
        sku, _ = await gw.stocked_product(50)
        account = await gw.account(unique("Kaiserkai Handel"))  # net_30: booked without a payment step
        orders = [await gw.place_order(account, sku, 1, incoterm="EXW", named_place="Hamburg") for _ in range(4)]

        async def seen_at_once(order_id: str) -> dict:
            deadline = time.monotonic() + 45
            while (await gw.order(order_id))["status"] != "ready_to_ship":
                assert time.monotonic() < deadline, f"order {order_id} never became ready_to_ship"
                await asyncio.sleep(0.01)
            return await overview(gw, order_id)  # no pause: sales has just shown the status

        bodies = await asyncio.gather(*(seen_at_once(o["id"]) for o in orders))
        for order, body in zip(orders, bodies, strict=True):
            in_timeline = {e["event"]["id"] for e in body["timeline"]}
            # What made sales show ready_to_ship, and everything that caused it, was consumed by a
            # department before sales could show the status: all of it was published before the call.
            published = {e["id"]: e for e in await flow_events(platform, order["id"])}
            [booked] = [e for e in published.values() if e["type"] == "logistics.shipment.booked.v1"]
            chain, event = [], booked
            while event is not None:
                chain.append(event)
                event = published.get(event.get("causationid"))
            # net_30: the shipment is booked with the reservation, in reaction to the clearance.
            assert [e["type"] for e in reversed(chain)] == [
                "sales.order.placed.v1",
                "compliance.order.cleared.v1",
                "logistics.shipment.booked.v1",
            ]
            missing = [e["type"] for e in chain if e["id"] not in in_timeline]
            assert not missing, f"order {order['id']}: the overview's timeline lacks {missing}"
    finally:
        await gw.close()


async def _dead(pid: int) -> bool:
    return not alive(pid)
