"""Logistics in the order flow: reservations under races, back-orders, cancels, shipments, tracking."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlmodel import select

from hanse.uow import UnitOfWork
from services.compliance.contract import OrderRejected
from services.logistics.domain import fulfilment
from services.logistics.models import StockLevel
from services.sales.contract import OrderCancelled
from tests.integration.test_logistics_support import (
    cleared,
    invoice_paid,
    new_order_id,
    of_type,
    open_warehouse,
    order_status,
    order_terms,
    published,
    receive,
    shipments_of,
    stock,
    wait_status,
)
from tests.support.kafka import eventually, read_all, send_raw
from tests.support.service import run_service

API = "/api/v1/logistics"
SETTLED = ("reserved", "backordered")


async def _stock_rows(svc) -> list[StockLevel]:
    async with svc.runtime.db.session() as session:
        return list((await session.exec(select(StockLevel))).all())


async def test_orders_racing_for_the_last_units_never_oversell(settings):
    async with run_service("logistics", settings) as svc:
        await open_warehouse(svc, "HAM")
        await open_warehouse(svc, "MUC")

        # 1) Ten cleared orders of 3 units each, delivered at once through the broker, for 20 units.
        await receive(svc, "RACE-1", 20)
        kafka_orders = [new_order_id() for _ in range(10)]
        await asyncio.gather(*(svc.deliver(cleared(o, [("RACE-1", 3)])) for o in kafka_orders))
        outcomes = [await wait_status(svc, o, *SETTLED) for o in kafka_orders]
        assert outcomes.count("reserved") == 20 // 3 and outcomes.count("backordered") == 10 - 20 // 3
        view = await stock(svc, "RACE-1")
        assert (view["on_hand"], view["reserved"], view["available"]) == (20, 18, 2)

        # 2) Ten transactions reserving at the same moment on their own connections (true
        #    concurrency on PostgreSQL: row locks; on SQLite: BEGIN IMMEDIATE), stock split over
        #    two warehouses, while a receipt for another SKU lands in the middle.
        await receive(svc, "RACE-2", 11, "HAM")
        await receive(svc, "RACE-2", 9, "MUC")
        direct_orders = [new_order_id() for _ in range(10)]

        async def reserve(order_id: str) -> str:
            async with svc.runtime.db.session() as session, session.begin():
                uow = UnitOfWork(session, svc.settings, svc.runtime.config)
                return await fulfilment.reserve_cleared_order(uow, order_terms(order_id, [("RACE-2", 3)]))

        results = await asyncio.gather(*(reserve(o) for o in direct_orders), receive(svc, "OTHER", 1))
        direct = results[:10]
        assert direct.count("reserved") == 6 and direct.count("backordered") == 4
        view = await stock(svc, "RACE-2")
        assert (view["on_hand"], view["reserved"], view["available"]) == (20, 18, 2)
        for row in await _stock_rows(svc):
            assert 0 <= row.reserved <= row.on_hand, f"oversold {row.sku}@{row.warehouse}"

        events = await published(svc, expect=4 + 20)
        assert len(of_type(events, "stock.reserved")) == 12
        shorts = of_type(events, "stock.short")
        assert len(shorts) == 8
        assert sorted(e.data["lines"][0]["sku"] for e in shorts) == ["RACE-1"] * 4 + ["RACE-2"] * 4
        assert all(e.data["lines"][0]["requested"] == 3 and e.data["lines"][0]["available"] == 2 for e in shorts)
        reserved_units = sum(line["quantity"] for e in of_type(events, "stock.reserved") for line in e.data["lines"])
        assert reserved_units == 36
        for e in of_type(events, "stock.reserved", kafka_orders[0]) + of_type(events, "stock.short", kafka_orders[-1]):
            assert e.correlationid == e.data["order_id"]


async def test_backorders_fill_first_come_first_served_and_cancels_release(settings):
    async with run_service("logistics", settings) as svc:
        await open_warehouse(svc, "HAM")
        await receive(svc, "BO", 1)
        await svc.deliver(cleared(drain := new_order_id(), [("BO", 1)]))
        assert await wait_status(svc, drain, *SETTLED) == "reserved"

        # Back-orders recorded in this order: o1 wants 4, o2 wants 1, o3 wants 3.
        o1, o2, o3, o4, o5 = (new_order_id() for _ in range(5))
        for order_id, quantity in [(o1, 4), (o2, 1), (o3, 3)]:
            await svc.deliver(cleared(order_id, [("BO", quantity)]))
            assert await wait_status(svc, order_id, *SETTLED) == "backordered"

        # 4 arrive: o1 is first and takes all 4; o2 and o3 keep waiting.
        assert (await receive(svc, "BO", 4))["backorders_filled"] == [o1]
        # 3 arrive: o2 (1) is served before o3 (3), which no longer fits (2 left) and keeps its place.
        assert (await receive(svc, "BO", 3))["backorders_filled"] == [o2]
        assert await order_status(svc, o3) == "backordered"

        # With 2 available, o4 (5) and then o5 (3) are back-ordered behind o3.
        await svc.deliver(cleared(o4, [("BO", 5)]))
        assert await wait_status(svc, o4, *SETTLED) == "backordered"
        await svc.deliver(cleared(o5, [("BO", 3)]))
        assert await wait_status(svc, o5, *SETTLED) == "backordered"
        # 1 arrives (3 available): o3 first (3); o4 and o5 still wait, in their places.
        assert (await receive(svc, "BO", 1))["backorders_filled"] == [o3]
        # 4 arrive: o4 (5) does not fit, a later, smaller o5 (3) may go ahead (first fit, documented).
        assert (await receive(svc, "BO", 4))["backorders_filled"] == [o5]
        view = await stock(svc, "BO")
        assert (view["on_hand"], view["reserved"], view["available"]) == (13, 12, 1)

        # Cancelling o1 releases its 4 units; with 1 already free, the waiting o4 (5) now fits.
        await svc.deliver(OrderCancelled(order_id=o1, previous_status="confirmed", reason="buyer changed mind"))
        assert await wait_status(svc, o4, "reserved") == "reserved"
        assert await order_status(svc, o1) == "cancelled"
        view = await stock(svc, "BO")
        assert (view["on_hand"], view["reserved"], view["available"]) == (13, 13, 0)

        # A rejection after clearance releases too; a cancel of a back-order just drops it.
        await svc.deliver(OrderRejected(order_id=o2, check_id="chk", reasons=["embargo"]))
        assert await wait_status(svc, o2, "rejected") == "rejected"
        assert (await stock(svc, "BO"))["reserved"] == 12
        waiting = new_order_id()
        await svc.deliver(cleared(waiting, [("BO", 50)]))
        assert await wait_status(svc, waiting, *SETTLED) == "backordered"
        await svc.deliver(OrderCancelled(order_id=waiting, previous_status="backordered"))
        assert await wait_status(svc, waiting, "cancelled") == "cancelled"
        assert (await receive(svc, "BO", 60))["backorders_filled"] == []

        # All or nothing across SKUs: one short line holds nothing of the others.
        mixed = new_order_id()
        await svc.deliver(cleared(mixed, [("BO", 1), ("NONE", 1)]))
        assert await wait_status(svc, mixed, *SETTLED) == "backordered"
        assert (await stock(svc, "BO"))["reserved"] == 12

        # The cancel overtakes the clearance (other topic): a tombstone, the clearance reserves nothing.
        late = new_order_id()
        await svc.deliver(OrderCancelled(order_id=late, previous_status="placed"))
        assert await wait_status(svc, late, "cancelled") == "cancelled"
        await svc.deliver(cleared(late, [("BO", 2)]))
        rejected_first = new_order_id()
        await svc.deliver(OrderRejected(order_id=rejected_first, check_id="chk", reasons=["denied party"]))
        await svc.deliver(cleared(rejected_first, [("BO", 2)]))
        marker = new_order_id()  # the same partition order is not guaranteed across topics: wait on a marker
        await svc.deliver(cleared(marker, [("BO", 1)]))
        await wait_status(svc, marker, "reserved")
        await eventually(lambda: _processed(svc, 16))
        assert await order_status(svc, late) == "cancelled"
        assert await order_status(svc, rejected_first) == "rejected"
        assert (await stock(svc, "BO"))["reserved"] == 13

        # An order logistics can never reserve (quantity 0) goes to the DLQ and changes nothing.
        bad = new_order_id()
        await svc.deliver(cleared(bad, [("BO", 0)]))
        (dead,) = await read_all(settings.kafka_bootstrap_servers, settings.dlq_topic("logistics"), expect=1)
        assert dict(dead.headers)["hanse-dlq-reason"] == b"rejected"
        assert await order_status(svc, bad) is None
        assert (await stock(svc, "BO"))["reserved"] == 13

        events = await published(svc, expect=30)
        released = of_type(events, "stock.released")
        assert [(e.data["order_id"], e.data["lines"]) for e in released] == [
            (o1, [{"sku": "BO", "warehouse": "HAM", "quantity": 4}]),
            (o2, [{"sku": "BO", "warehouse": "HAM", "quantity": 1}]),
        ]
        assert released[0].data["reason"] == "cancelled: buyer changed mind"
        assert released[0].correlationid == o1
        filled = [e for e in of_type(events, "stock.reserved") if e.data["from_backorder"]]
        assert [e.data["order_id"] for e in filled] == [o1, o2, o3, o5, o4]
        assert filled[-1].correlationid == o4, "a reservation caused by o1's cancel correlates to its own order"
        for order_id in (late, rejected_first, waiting):
            assert not of_type(events, "stock.reserved", order_id)
            assert not of_type(events, "stock.released", order_id)


async def _processed(svc, n: int) -> bool:
    consumer = svc.runtime.consumer
    return consumer is not None and consumer.processed >= n


async def test_shipments_follow_payment_terms_book_once_and_track_to_delivery(settings):
    async with run_service("logistics", settings) as svc:
        c, ops = svc.client, svc.auth("logistics")
        await open_warehouse(svc, "HAM")
        await receive(svc, "SHIP", 100)

        # net_30: booked as soon as the stock is reserved; DAP to France goes by road.
        net = new_order_id()
        await svc.deliver(cleared(net, [("SHIP", 4)], payment_terms="net_30", incoterm="DAP", destination="FR"))
        (shipment,) = await eventually(lambda: shipments_of(svc, net))
        assert shipment["status"] == "booked" and shipment["mode"] == "road"
        assert (shipment["carrier"], shipment["carrier_name"]) == ("db-schenker", "DB Schenker")
        assert shipment["tracking_number"].startswith("DBSK")

        # prepaid, cleared first: reserved but not booked until the invoice is paid; CIF goes by sea.
        prepaid = new_order_id()
        await svc.deliver(cleared(prepaid, [("SHIP", 2)], payment_terms="prepaid", incoterm="CIF", destination="CN"))
        assert await wait_status(svc, prepaid, *SETTLED) == "reserved"
        assert await shipments_of(svc, prepaid) == []
        paid_event = await svc.deliver(invoice_paid(prepaid))
        (sea,) = await eventually(lambda: shipments_of(svc, prepaid))
        assert (sea["mode"], sea["carrier"]) == ("sea", "maersk"), "the cheapest sea carrier to Asia for 2.5 kg"

        # prepaid, paid before the clearance arrives: booked on clearance; DDP to the US goes by air.
        early = new_order_id()
        await svc.deliver(invoice_paid(early))
        assert await wait_status(svc, early, "pending") == "pending"
        await svc.deliver(cleared(early, [("SHIP", 1)], payment_terms="prepaid", incoterm="DDP", destination="US"))
        (air,) = await eventually(lambda: shipments_of(svc, early))
        assert air["mode"] == "air"

        # prepaid and paid but back-ordered: booked when a receipt fills the back-order.
        waiting = new_order_id()
        await svc.deliver(cleared(waiting, [("LATE", 2)], payment_terms="prepaid", mode="courier"))
        assert await wait_status(svc, waiting, *SETTLED) == "backordered"
        await svc.deliver(invoice_paid(waiting))
        await eventually(lambda: _processed(svc, 7))
        assert await shipments_of(svc, waiting) == []
        assert (await receive(svc, "LATE", 2))["backorders_filled"] == [waiting]
        (quoted,) = await shipments_of(svc, waiting)
        assert (quoted["mode"], quoted["carrier"]) == ("courier", "dhl-express"), "the mode the buyer was quoted"

        # Book exactly once: the same event redelivered, a second invoice.paid, a second clearance.
        await send_raw(
            settings.kafka_bootstrap_servers, settings.topic("finance"), paid_event.to_json(), prepaid.encode()
        )
        await svc.deliver(invoice_paid(prepaid))
        await svc.deliver(cleared(net, [("SHIP", 4)]))
        await eventually(lambda: _processed(svc, 10))
        for order_id in (net, prepaid, early, waiting):
            assert len(await shipments_of(svc, order_id)) == 1
        assert (await stock(svc, "SHIP"))["reserved"] == 7

        # -- tracking: bad input first (nothing recorded)
        track = f"{API}/shipments/{shipment['id']}/tracking"
        for bad, field in [
            ({"status": "teleported"}, "status"),
            ({}, "status"),
            ({"status": "picked_up", "at": "2026-03-01T10:00:00"}, "at"),
            ({"status": "picked_up", "at": "yesterday"}, "at"),
            ({"status": "picked_up", "location": ""}, "location"),
        ]:
            response = await c.post(track, json=bad, headers=ops)
            assert response.status_code == 422, response.text
            assert response.json()["field"] == field
        missing = await c.post(f"{API}/shipments/nope/tracking", json={"status": "picked_up"}, headers=ops)
        assert missing.status_code == 404
        assert (await c.get(f"{API}/shipments/nope", headers=ops)).status_code == 404
        assert (await c.post(track, json={"status": "picked_up"}, headers=svc.auth("sales"))).status_code == 403

        # A forwarder (partner) posts the milestones; the first pick-up dispatches.
        partner = svc.auth("partner")
        picked = await c.post(
            track,
            json={"status": "picked_up", "location": "Hamburg", "at": "2026-03-01T10:00:00+01:00"},
            headers=partner,
        )
        assert picked.status_code == 201, picked.text
        assert picked.json()["shipment_status"] == "in_transit"
        assert picked.json()["at"].startswith("2026-03-01T09:00:00")
        view = await stock(svc, "SHIP")
        assert (view["on_hand"], view["reserved"]) == (96, 3), "dispatched units leave on_hand and reserved"
        assert (
            await c.post(track, json={"status": "in_transit", "location": "A7"}, headers=partner)
        ).status_code == 201
        assert (await c.post(track, json={"status": "exception", "location": "A7"}, headers=ops)).status_code == 201
        delivered = await c.post(track, json={"status": "delivered", "location": "Lyon"}, headers=partner)
        assert delivered.json()["shipment_status"] == "delivered"
        after = await c.post(track, json={"status": "in_transit"}, headers=partner)
        assert after.status_code == 409 and after.json()["field"] == "status"
        assert (await stock(svc, "SHIP"))["on_hand"] == 96, "dispatched once"

        got = await c.get(f"{API}/shipments/{shipment['id']}", headers=partner)
        assert got.status_code == 200
        body = got.json()
        assert body["status"] == "delivered" and body["dispatched_at"] and body["delivered_at"]
        assert [m["status"] for m in body["milestones"]] == ["picked_up", "in_transit", "exception", "delivered"]
        assert body["weight_kg"] == "5.000"

        # A cancel after dispatch is ignored; a cancel before it cancels the shipment and releases stock.
        await svc.deliver(OrderCancelled(order_id=net, previous_status="shipped"))
        await svc.deliver(OrderCancelled(order_id=prepaid, previous_status="ready_to_ship", reason="late"))
        assert await wait_status(svc, prepaid, "cancelled") == "cancelled"
        assert await order_status(svc, net) == "dispatched"
        (cancelled,) = await shipments_of(svc, prepaid)
        assert cancelled["status"] == "cancelled"
        on_cancelled = await c.post(
            f"{API}/shipments/{cancelled['id']}/tracking", json={"status": "picked_up"}, headers=partner
        )
        assert on_cancelled.status_code == 409
        view = await stock(svc, "SHIP")
        assert (view["on_hand"], view["reserved"]) == (96, 1)

        all_shipments = await c.get(f"{API}/shipments", params={"limit": 2}, headers=svc.auth("finance"))
        page = all_shipments.json()
        assert len(page["items"]) == 2 and page["next_cursor"]

        events = await published(svc, expect=19)
        for order_id in (net, prepaid, early, waiting):
            assert len(of_type(events, "shipment.booked", order_id)) == 1, order_id
        assert [e.data["status"] for e in of_type(events, "shipment.tracked", net)] == [
            "picked_up",
            "in_transit",
            "exception",
            "delivered",
        ]
        (dispatched,) = of_type(events, "shipment.dispatched", net)
        assert dispatched.data["at"].startswith("2026-03-01T09:00:00")
        assert len(of_type(events, "shipment.delivered", net)) == 1
        (shipment_cancelled,) = of_type(events, "shipment.cancelled")
        assert shipment_cancelled.data["order_id"] == prepaid
        assert [e.data["order_id"] for e in of_type(events, "stock.released")] == [prepaid]
        assert all(e.correlationid == e.data["order_id"] for e in events if "order_id" in e.data)
        assert datetime.fromisoformat(dispatched.data["at"]).tzinfo is not None
        assert datetime.now(UTC) > datetime.fromisoformat(dispatched.data["at"])
