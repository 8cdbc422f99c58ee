"""Returns (RMA) with restock and back-orders first, procurement's accepted goods, letters of credit,
and privacy requests (real broker, SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from hanse.events import CloudEvent, make_event
from services.compliance.contract import PrivacyRequestOpened
from services.finance.contract import LetterOfCreditRecorded
from services.procurement.contract import AcceptedLine, GoodsAccepted
from tests.integration.test_logistics_support import (
    cleared,
    new_order_id,
    of_type,
    open_warehouse,
    published,
    receive,
    shipments_of,
    stock,
    wait_status,
)
from tests.support.kafka import eventually, read_all, send_raw
from tests.support.service import run_service

API = "/api/v1/logistics"


def goods_accepted(inspection_id: str, lines: list[tuple[str, int]], warehouse: str = "ham") -> GoodsAccepted:
    return GoodsAccepted(
        inspection_id=inspection_id,
        receipt_id=f"rcv-{inspection_id}",
        purchase_order_id="po-1",
        purchase_order_number="PO-2026-0001",
        supplier_id="sup-1",
        supplier_name="Rheinmetall Pumps",
        warehouse=warehouse,
        currency="EUR",
        lines=[AcceptedLine(sku=sku, accepted=n, rejected=1, unit_price="10.00") for sku, n in lines],
        accepted_value={"amount": "10.00", "currency": "EUR"},
        payment_terms="net_30",
        due_date=date(2026, 12, 31),
    )


async def deliver_procurement(svc, payload: GoodsAccepted) -> CloudEvent:
    """Procurement's topic as the settings compute it (procurement joins DEPARTMENTS with its own issue)."""
    event = make_event(payload, source_department="procurement")
    topic = svc.settings.topics_for(["procurement"])[0]
    await send_raw(svc.settings.kafka_bootstrap_servers, topic, event.to_json(), payload.inspection_id.encode())
    return event


async def test_returns_restock_back_orders_first_and_refuse_bad_input(settings):
    async with run_service("logistics", settings) as svc:
        c, ops = svc.client, svc.auth("logistics")
        await open_warehouse(svc, "HAM")
        await receive(svc, "RET", 5)
        order = new_order_id()
        await svc.deliver(cleared(order, [("RET", 5)]))
        (shipment,) = await eventually(lambda: shipments_of(svc, order))
        track = f"{API}/shipments/{shipment['id']}/tracking"

        # Not delivered yet: a return is refused, nothing recorded.
        body = {"order_id": order, "lines": [{"sku": "RET", "quantity": 2}], "reason": "damaged"}
        early = await c.post(f"{API}/returns", json=body, headers=ops)
        assert early.status_code == 409 and early.json()["field"] == "order_id", early.text
        assert (await c.post(track, json={"status": "picked_up"}, headers=ops)).status_code == 201
        in_transit = await c.post(f"{API}/returns", json=body, headers=ops)
        assert in_transit.status_code == 409
        assert (await c.post(track, json={"status": "delivered"}, headers=ops)).status_code == 201
        assert (await stock(svc, "RET"))["on_hand"] == 0

        # Bad input: more than shipped, a SKU not shipped, unknown order, malformed lines.
        for bad, status, field in [
            ({**body, "lines": [{"sku": "RET", "quantity": 6}]}, 422, "lines.0.quantity"),
            (
                {**body, "lines": [{"sku": "RET", "quantity": 3}, {"sku": "RET", "quantity": 3}]},
                422,
                "lines.1.quantity",
            ),
            ({**body, "lines": [{"sku": "OTHER", "quantity": 1}]}, 422, "lines.0.sku"),
            ({**body, "order_id": "ord-unknown"}, 404, "order_id"),
            ({**body, "lines": []}, 422, "lines"),
            ({**body, "lines": [{"sku": "RET", "quantity": 0}]}, 422, "lines.0.quantity"),
            ({**body, "reason": ""}, 422, "reason"),
        ]:
            r = await c.post(f"{API}/returns", json=bad, headers=ops)
            assert r.status_code == status, (bad, r.text)
            assert r.json()["field"] == field, r.json()
        assert (await c.post(f"{API}/returns", json=body, headers=svc.auth("sales"))).status_code == 403
        assert (await c.get(f"{API}/returns", params={"order_id": order}, headers=ops)).json()["items"] == []

        # Request → authorize → receive → inspect.
        created = await c.post(f"{API}/returns", json=body, headers=ops)
        assert created.status_code == 201, created.text
        rma = created.json()
        assert rma["status"] == "requested" and rma["rma_number"].startswith("RMA-")
        rid = rma["id"]
        out_of_order = await c.post(f"{API}/returns/{rid}/receive", headers=ops)
        assert out_of_order.status_code == 409 and out_of_order.json()["field"] == "status"
        assert (await c.post(f"{API}/returns/{rid}/authorize", headers=ops)).json()["status"] == "authorized"
        too_many = await c.post(
            f"{API}/returns/{rid}/receive", json={"lines": [{"sku": "RET", "quantity": 3}]}, headers=ops
        )
        assert too_many.status_code == 422 and too_many.json()["field"] == "lines.0.quantity"
        received = await c.post(
            f"{API}/returns/{rid}/receive", json={"lines": [{"sku": "RET", "quantity": 2}]}, headers=ops
        )
        assert received.status_code == 200 and received.json()["lines"][0]["received"] == 2

        # A back-order waits for RET: the restocked unit fills it first.
        waiting = new_order_id()
        await svc.deliver(cleared(waiting, [("RET", 1)]))
        assert await wait_status(svc, waiting, "reserved", "backordered") == "backordered"

        for bad, field in [
            ({"lines": [{"sku": "RET", "restock": 2, "scrap": 1}]}, "lines.0.restock"),
            ({"lines": [{"sku": "RET", "restock": 1}, {"sku": "RET", "restock": 2}]}, "lines.1.restock"),
            ({"lines": [{"sku": "NOPE", "restock": 1}]}, "lines.0.sku"),
            ({"lines": [{"sku": "RET", "restock": -1}]}, "lines.0.restock"),
        ]:
            r = await c.post(f"{API}/returns/{rid}/inspect", json=bad, headers=ops)
            assert r.status_code == 422, r.text
            assert r.json()["field"] == field
        assert (await stock(svc, "RET"))["on_hand"] == 0, "a refused inspection restocks nothing"
        inspected = await c.post(
            f"{API}/returns/{rid}/inspect", json={"lines": [{"sku": "RET", "restock": 1, "scrap": 1}]}, headers=ops
        )
        assert inspected.status_code == 200, inspected.text
        assert inspected.json()["lines"] == [
            {"sku": "RET", "quantity": 2, "received": 2, "restocked": 1, "scrapped": 1}
        ]
        assert await wait_status(svc, waiting, "reserved") == "reserved"
        view = await stock(svc, "RET")
        assert (view["on_hand"], view["reserved"]) == (1, 1)
        again = await c.post(
            f"{API}/returns/{rid}/inspect", json={"lines": [{"sku": "RET", "restock": 1}]}, headers=ops
        )
        assert again.status_code == 409

        # The rest comes back too: the order is fully returned.
        rest = await c.post(f"{API}/returns", json={**body, "lines": [{"sku": "RET", "quantity": 3}]}, headers=ops)
        assert rest.status_code == 201, rest.text
        more = await c.post(f"{API}/returns", json={**body, "lines": [{"sku": "RET", "quantity": 1}]}, headers=ops)
        assert more.status_code == 422, "5 shipped: 2 returned and 3 asked for"
        rid2 = rest.json()["id"]
        await c.post(f"{API}/returns/{rid2}/authorize", headers=ops)
        await c.post(f"{API}/returns/{rid2}/receive", headers=ops)
        done = await c.post(f"{API}/returns/{rid2}/inspect", json={"lines": [{"sku": "RET", "scrap": 3}]}, headers=ops)
        assert done.status_code == 200
        fulfilment = (await c.get(f"{API}/orders/{order}", headers=svc.auth("sales"))).json()
        assert fulfilment["returned"] is True
        assert [r["rma_number"] for r in fulfilment["returns"]] == [rma["rma_number"], rest.json()["rma_number"]]
        assert (await c.get(f"{API}/returns/{rid}", headers=svc.auth("finance"))).json()["status"] == "inspected"

        events = await published(svc, expect=15)
        (requested, _) = of_type(events, "return.requested", order)
        assert requested.data["lines"] == [{"sku": "RET", "quantity": 2, "restocked": 0, "scrapped": 0}]
        first, second = of_type(events, "return.inspected", order)
        assert first.data["lines"] == [{"sku": "RET", "quantity": 2, "restocked": 1, "scrapped": 1}]
        assert (first.data["order_fully_returned"], second.data["order_fully_returned"]) == (False, True)
        assert first.correlationid == order
        restocked = [e for e in of_type(events, "stock.received") if e.data["quantity"] == 1]
        assert restocked[0].data["levels"] == [
            {"sku": "RET", "warehouse": "HAM", "on_hand": 1, "reserved": 0, "available": 1}
        ]


async def test_accepted_goods_letters_of_credit_and_privacy_requests(settings):
    async with run_service("logistics", settings) as svc:
        c = svc.client
        await open_warehouse(svc, "HAM")

        # Accepted goods fill a back-order first; the same inspection published again counts once.
        waiting = new_order_id()
        await svc.deliver(cleared(waiting, [("ACC", 3)]))
        assert await wait_status(svc, waiting, "reserved", "backordered") == "backordered"
        inspection = f"insp-{uuid.uuid4().hex[:8]}"
        await deliver_procurement(svc, goods_accepted(inspection, [("ACC", 5), ("ZERO", 0)]))
        assert await wait_status(svc, waiting, "reserved") == "reserved"
        await deliver_procurement(svc, goods_accepted(inspection, [("ACC", 5)]))
        # A bad warehouse can never be applied: dead-lettered, nothing on hand.
        await deliver_procurement(svc, goods_accepted("insp-bad", [("ACC", 5)], warehouse="NOWHERE"))
        (dead,) = await read_all(settings.kafka_bootstrap_servers, settings.dlq_topic("logistics"), expect=1)
        assert dict(dead.headers)["hanse-dlq-reason"] == b"rejected"
        view = await stock(svc, "ACC")
        assert (view["on_hand"], view["reserved"]) == (5, 3)

        # Letter of credit: reserved but not booked without a covering, valid L/C (order total 20.00 EUR).
        lc_order = new_order_id()
        await svc.deliver(cleared(lc_order, [("ACC", 2)], payment_terms="letter_of_credit"))
        assert await wait_status(svc, lc_order, "reserved") == "reserved"

        async def blocked_reason(contains: str):
            async def check():
                r = (await c.get(f"{API}/orders/{lc_order}", headers=svc.auth("sales"))).json()
                return r["booking_blocked"] if contains in (r["booking_blocked"] or "") else None

            return await eventually(check)

        assert "no letter of credit" in await blocked_reason("no letter of credit")
        today = datetime.now(UTC).date()

        def lc(lc_id: str, amount: str, currency: str = "EUR", latest: date | None = None) -> LetterOfCreditRecorded:
            return LetterOfCreditRecorded(
                letter_of_credit_id=lc_id,
                order_id=lc_order,
                issuing_bank="Deutsche Bank",
                amount={"amount": amount, "currency": currency},
                expiry_date=today + timedelta(days=60),
                latest_shipment_date=latest or today + timedelta(days=30),
            )

        await svc.deliver(lc("lc-small", "15.00"))
        assert "covers 15.00 EUR of the order total 20.00" in await blocked_reason("covers 15.00")
        await svc.deliver(lc("lc-usd", "50.00", currency="USD"))
        assert "is in USD" in await blocked_reason("is in USD")
        await svc.deliver(lc("lc-late", "50.00", latest=today - timedelta(days=1)))
        assert "latest shipment date" in await blocked_reason("latest shipment date")
        assert await shipments_of(svc, lc_order) == []
        await svc.deliver(lc("lc-ok", "20.00"))
        (booked,) = await eventually(lambda: shipments_of(svc, lc_order))
        assert booked["status"] == "booked"

        # Privacy: access exports the consignee data; erasure pseudonymises it and keeps customs records.
        access = PrivacyRequestOpened(request_id="pr-1", kind="access", email="Buyer@Acme.example", due=today)
        await svc.deliver(access)
        await published(svc, expect=7)  # requests are keyed by their id: the erasure must not overtake it
        erasure = PrivacyRequestOpened(request_id="pr-2", kind="erasure", email="buyer@acme.example", due=today)
        await svc.deliver(erasure)
        nobody = PrivacyRequestOpened(request_id="pr-3", kind="erasure", email="nobody@example.org", due=today)
        await svc.deliver(nobody)

        events = await published(svc, expect=9)
        answers = {e.data["request_id"]: e.data for e in events if e.type == "logistics.privacy_request.answered.v1"}
        assert set(answers) == {"pr-1", "pr-2", "pr-3"}
        assert answers["pr-1"]["records"] == 2 and answers["pr-1"]["department"] == "logistics"
        assert {o["order_id"] for o in answers["pr-1"]["export"]["orders"]} == {waiting, lc_order}
        assert answers["pr-2"]["pseudonymised"] == 2 and answers["pr-2"]["erased"] == 0
        assert "customs" in answers["pr-2"]["retained"][0]["why"]
        assert answers["pr-3"]["records"] == 0 and answers["pr-3"]["retained"] == []
        # Accepted goods carry the stock levels procurement's reorder rules read.
        received = [e for e in of_type(events, "stock.received") if e.data["sku"] == "ACC"]
        assert len(received) == 1
        assert received[0].data["levels"] == [
            {"sku": "ACC", "warehouse": "HAM", "on_hand": 5, "reserved": 0, "available": 5}
        ]
        short = of_type(events, "stock.short", waiting)[0]
        assert short.data["levels"] == []
