"""Sales reacting to the other departments' events: accounts from leads and the order life cycle."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hanse.events import utcnow
from hanse.money import Money
from services.compliance.contract import OrderCleared, OrderHeld, OrderRejected
from services.finance.contract import InvoicePaid
from services.logistics.contract import (
    ReservedLine,
    ShipmentBooked,
    ShipmentDelivered,
    ShipmentDispatched,
    ShortLine,
    StockReserved,
    StockShort,
)
from services.marketing.contract import LeadQualified
from services.sales.contract import OrderPlaced
from tests.integration.test_sales_api import assert_problem, get, place_order, post, sales_events
from tests.support.kafka import eventually, read_all, send_raw
from tests.support.service import RunningService, run_service


def lead(lead_id: str, **overrides) -> LeadQualified:
    values = {
        "lead_id": lead_id,
        "company": "Maple Trading Ltd",
        "contact_name": "Ann Lee",
        "email": "ann@maple.example",
        "country": "CA",
        "language": "en",
        "campaign_id": "cmp-1",
    }
    values.update(overrides)
    return LeadQualified(**values)


async def a_qualified_lead_opens_one_account(svc: RunningService) -> None:
    first = await svc.deliver(lead("lead-1"))
    await svc.deliver(lead("lead-1", company="Maple Trading (again)"))  # marketing said it twice
    await svc.deliver(lead("lead-2", country="AR", email="sol@pampa.example", language="xx-nope-nope"))

    async def accounts_of(lead_id: str):
        return (await get(svc, "/accounts", lead_id=lead_id)).json()["items"]

    (maple,) = await eventually(lambda: accounts_of("lead-1"))
    (pampa,) = await eventually(lambda: accounts_of("lead-2"))
    assert (maple["company"], maple["country"], maple["email"]) == ("Maple Trading Ltd", "CA", "ann@maple.example")
    assert (maple["currency"], maple["payment_terms"], maple["language"]) == ("CAD", "prepaid", "en")
    assert (pampa["currency"], pampa["language"]) == ("EUR", None), "no ECB rate for ARS: base currency"
    # Redelivery of the very same event changes nothing either.
    await send_raw(svc.settings.kafka_bootstrap_servers, svc.settings.topic("marketing"), first.to_json(), b"lead-1")

    async def all_handled():
        return svc.runtime.consumer.processed >= 4

    await eventually(all_handled)
    events = await sales_events(svc, expect=2)
    assert len(events) == 2
    assert len(await accounts_of("lead-1")) == 1
    created = [e for e in events if e.type == "sales.account.created.v1"]
    assert sorted(e.data["lead_id"] for e in created) == ["lead-1", "lead-2"]
    maple_event = next(e for e in created if e.data["lead_id"] == "lead-1")
    assert maple_event.data["account_id"] == maple["id"]
    assert maple_event.correlationid == first.correlationid == "lead-1"
    assert maple_event.causationid == first.id


def paid(order_id: str, total: dict) -> InvoicePaid:
    money = Money.model_validate(total)
    return InvoicePaid(
        invoice_id=f"inv-{order_id}",
        order_id=order_id,
        total=money,
        total_base=money,
        fx_rate=Decimal(1),
        fx_rate_date=date(2025, 1, 2),
    )


def booked(order_id: str) -> ShipmentBooked:
    return ShipmentBooked(
        shipment_id=f"shp-{order_id}", order_id=order_id, carrier="DHL", mode="sea", tracking_number="TRK1"
    )


def reserved(order_id: str, backorder: bool = False) -> StockReserved:
    return StockReserved(
        order_id=order_id,
        lines=[ReservedLine(sku="PUMP-100", warehouse="HAM", quantity=10)],
        from_backorder=backorder,
    )


async def status_becomes(svc: RunningService, order_id: str, status: str, paid: bool | None = None) -> dict:
    async def check():
        order = (await get(svc, f"/orders/{order_id}", role="logistics")).json()
        ok = order["status"] == status and (paid is None or order["paid"] is paid)
        return order if ok else None

    return await eventually(check)


async def test_accounts_from_leads_and_the_order_following_compliance_logistics_and_finance(settings):
    async with run_service("sales", settings) as svc:
        # One service start for both: accounts opened from qualified leads ...
        await a_qualified_lead_opens_one_account(svc)

        # ... and the order life cycle.
        a = (await place_order(svc))["id"]
        b = (await place_order(svc, email="b@acme.example"))["id"]
        c = (await place_order(svc, email="c@acme.example"))["id"]
        d = (await place_order(svc, email="d@acme.example"))["id"]
        total = (await get(svc, f"/orders/{a}")).json()["total"]
        placed = await sales_events(svc, expect=19)
        terms_a = next(
            OrderPlaced.model_validate(e.data).order
            for e in placed
            if e.type == OrderPlaced.event_type and e.subject == a
        )

        # a: held, cleared, back-ordered, reserved, booked, dispatched; paid before it is delivered.
        await svc.deliver(OrderHeld(order_id=a, check_id="chk-a", reasons=["watchlist match"]), correlation_id=a)
        await status_becomes(svc, a, "on_hold")
        await svc.deliver(OrderCleared(order_id=a, check_id="chk-a", decided_by="officer", order=terms_a))
        await status_becomes(svc, a, "placed")
        await svc.deliver(StockShort(order_id=a, lines=[ShortLine(sku="PUMP-100", requested=10, available=3)]))
        await status_becomes(svc, a, "backordered")
        await svc.deliver(reserved(a, backorder=True))
        await status_becomes(svc, a, "confirmed")
        await svc.deliver(booked(a))
        await status_becomes(svc, a, "ready_to_ship")
        await svc.deliver(ShipmentDispatched(shipment_id=f"shp-{a}", order_id=a, at=utcnow()))
        await status_becomes(svc, a, "shipped")
        await svc.deliver(paid(a, total))
        await status_becomes(svc, a, "shipped", paid=True)
        await svc.deliver(ShipmentDelivered(shipment_id=f"shp-{a}", order_id=a, at=utcnow()))
        order_a = await status_becomes(svc, a, "completed", paid=True)
        assert [h["status"] for h in order_a["history"]] == [
            "placed",
            "on_hold",
            "placed",
            "backordered",
            "confirmed",
            "ready_to_ship",
            "shipped",
            "delivered",
            "completed",
        ]
        assert order_a["history"][1]["reason"] == "held by compliance: watchlist match"
        # Late and repeated events leave a completed order alone.
        await svc.deliver(booked(a))
        await svc.deliver(OrderHeld(order_id=a, check_id="chk-a", reasons=["late"]))

        # b: delivered (milestones skipped), then paid → completed; cancelling it now is a conflict.
        await svc.deliver(reserved(b))
        await svc.deliver(ShipmentDelivered(shipment_id=f"shp-{b}", order_id=b, at=utcnow()))
        await status_becomes(svc, b, "delivered", paid=False)
        assert_problem(await post(svc, f"/orders/{b}/cancel", {"reason": "changed mind"}), 409)
        await svc.deliver(paid(b, total))
        await status_becomes(svc, b, "completed", paid=True)

        # c: rejected by compliance is terminal: stock events after it are ignored.
        await svc.deliver(OrderRejected(order_id=c, check_id="chk-c", reasons=["embargoed destination"]))
        await status_becomes(svc, c, "rejected")
        await svc.deliver(reserved(c))

        # d: confirmed, then cancelled by sales; shipment events afterwards are ignored.
        await svc.deliver(reserved(d))
        await status_becomes(svc, d, "confirmed")
        assert_problem(await post(svc, f"/orders/{d}/cancel", {"reason": "x"}, role="finance"), 403)
        assert_problem(await post(svc, f"/orders/{d}/cancel", {"reason": "r" * 501}), 422, "reason")
        assert_problem(await post(svc, "/orders/ord_nope/cancel", {}), 404)
        cancelled = await post(svc, f"/orders/{d}/cancel", {"reason": "buyer withdrew"})
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        assert cancelled.json()["history"][-1] == {
            **cancelled.json()["history"][-1],
            "status": "cancelled",
            "previous_status": "confirmed",
            "reason": "buyer withdrew",
        }
        assert_problem(await post(svc, f"/orders/{d}/cancel"), 409)
        await svc.deliver(ShipmentDispatched(shipment_id=f"shp-{d}", order_id=d, at=utcnow()))

        # An event for an order sales never placed is dead-lettered, and the next one still works.
        await svc.deliver(reserved("ord_unknown"))
        await svc.deliver(booked(a))  # a marker behind it on the same topic
        dead = await read_all(svc.settings.kafka_bootstrap_servers, svc.settings.dlq_topic("sales"), expect=1)
        assert [dict(r.headers)["hanse-dlq-reason"] for r in dead] == [b"rejected"]

        async def all_handled():
            return svc.runtime.consumer.processed >= 23

        await eventually(all_handled)
        for order_id, status in [(a, "completed"), (b, "completed"), (c, "rejected"), (d, "cancelled")]:
            assert (await get(svc, f"/orders/{order_id}")).json()["status"] == status
        listing = (await get(svc, "/orders", role="partner", status="completed")).json()["items"]
        assert sorted(o["id"] for o in listing) == sorted([a, b])

        events = await sales_events(svc, expect=34)
    changes = [e for e in events if e.type == "sales.order.status_changed.v1"]
    of_a = [(e.data["previous_status"], e.data["status"]) for e in changes if e.subject == a]
    assert of_a == [
        (None, "placed"),
        ("placed", "on_hold"),
        ("on_hold", "placed"),
        ("placed", "backordered"),
        ("backordered", "confirmed"),
        ("confirmed", "ready_to_ship"),
        ("ready_to_ship", "shipped"),
        ("shipped", "delivered"),
        ("delivered", "completed"),
    ]
    assert all(e.correlationid == e.subject for e in changes), "order events are correlated by order id"
    assert [e.data["status"] for e in changes if e.subject == c] == ["placed", "rejected"]
    assert [e.data["status"] for e in changes if e.subject == d] == ["placed", "confirmed", "cancelled"]
    (cancel_event,) = [e for e in events if e.type == "sales.order.cancelled.v1"]
    assert (cancel_event.subject, cancel_event.correlationid) == (d, d)
    assert (cancel_event.data["previous_status"], cancel_event.data["reason"]) == ("confirmed", "buyer withdrew")
    assert len([e for e in events if e.type == OrderPlaced.event_type]) == 4
