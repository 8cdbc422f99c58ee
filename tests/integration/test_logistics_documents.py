"""Customs data, the document pack, dispatch refused while papers are missing or the order is held,
and carriers' signed tracking events (real broker, SQLite and PostgreSQL, PDFs read back with pypdf)."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pypdf

from hanse.http import PROBLEM
from services.compliance.contract import DocumentsRequired, LicenceRecorded, OrderCleared, OrderHeld, RequiredDocument
from services.finance.contract import InvoiceIssued, InvoiceLine
from services.logistics.domain import carriers, rules
from services.sales.contract import OrderLine, OrderTerms
from tests.integration.test_logistics_support import (
    new_order_id,
    of_type,
    open_warehouse,
    published,
    receive,
    shipments_of,
    stock,
    wait_status,
)
from tests.support.kafka import eventually

API = "/api/v1/logistics"
D = Decimal
# The catalogue's products as sales put them on the order: HS code and origin travel with the line.
PUMP = {
    "sku": "PUMP-1",
    "name": "Centrifugal pump",
    "hs_code": "841370",
    "origin_country": "DE",
    "price": "120.00",
    "kg": "4.500",
}
VALVE = {
    "sku": "VALVE-2",
    "name": "Ball valve",
    "hs_code": "848180",
    "origin_country": "IT",
    "price": "15.50",
    "kg": "0.800",
}


def terms(
    order_id: str, destination: str, incoterm: str, lines: list[tuple[dict, int]], language: str | None
) -> OrderTerms:
    order_lines = [
        OrderLine(
            sku=p["sku"],
            name=p["name"],
            quantity=q,
            unit_price=D(p["price"]),
            hs_code=p["hs_code"],
            origin_country=p["origin_country"],
            unit_weight_kg=D(p["kg"]),
        )
        for p, q in lines
    ]
    subtotal = {"amount": str(sum((line.amount for line in order_lines), D(0))), "currency": "EUR"}
    return OrderTerms(
        order_id=order_id,
        quote_id=f"q-{order_id}",
        account_id="acc-1",
        company="Acme Imports",
        email="buyer@acme.example",
        buyer_country=destination,
        destination_country=destination,
        incoterm=incoterm,
        named_place="New York" if destination == "US" else "Lyon",
        currency="EUR",
        payment_terms="net_30",
        lines=order_lines,
        subtotal=subtotal,
        total=subtotal,
        placed_at=datetime.now(UTC),
        language=language,
    )


def required(order_id: str, *kinds: str) -> DocumentsRequired:
    return DocumentsRequired(
        order_id=order_id, documents=[RequiredDocument(kind=k, reason=f"{k} needed") for k in kinds]
    )


def commercial_invoice(order: OrderTerms) -> InvoiceIssued:
    lines = [
        InvoiceLine(
            sku=line.sku,
            description=line.name,
            hs_code=line.hs_code,
            origin_country=line.origin_country,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
        )
        for line in order.lines
    ]
    zero = {"amount": "0.00", "currency": "EUR"}
    return InvoiceIssued(
        invoice_id=f"inv-{order.order_id}",
        number="INV-2026-000042",
        kind="commercial",
        order_id=order.order_id,
        account_id=order.account_id,
        currency="EUR",
        subtotal=order.subtotal,
        tax=zero,
        duty=zero,
        total=order.total,
        vat_treatment="export",
        vat_note="VAT-free export delivery (§ 4 No. 1a UStG)",
        lines=lines,
        incoterm=order.incoterm,
        named_place=order.named_place,
        issue_date=date(2026, 11, 26),
    )


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)


async def test_customs_data_document_pack_dispatch_guard_and_signed_carrier_events(settings):
    from tests.support.service import run_service

    async with run_service("logistics", settings) as svc:
        c, ops = svc.client, svc.auth("logistics")
        await open_warehouse(svc, "HAM")
        await receive(svc, "PUMP-1", 20)
        await receive(svc, "VALVE-2", 20)

        # A DDP order to the US: compliance lists the papers before it clears the order.
        us = new_order_id()
        us_terms = terms(us, "US", "DDP", [(PUMP, 2), (VALVE, 3)], language=None)
        kinds = ("commercial_invoice", "packing_list", "certificate_of_origin", "export_declaration")
        await svc.deliver(required(us, *kinds))
        await svc.deliver(OrderCleared(order_id=us, check_id="chk-us", order=us_terms))
        (booked,) = await eventually(lambda: shipments_of(svc, us))

        # Customs data: the products' HS codes, origins and values, weights and packages.
        shipment = (await c.get(f"{API}/shipments/{booked['id']}", headers=svc.auth("partner"))).json()
        customs = shipment["customs"]
        assert (customs["incoterm"], customs["named_place"]) == ("DDP", "New York")
        assert customs["lines"] == [
            {
                "sku": "PUMP-1",
                "description": "Centrifugal pump",
                "hs_code": "841370",
                "origin_country": "DE",
                "quantity": 2,
                "net_weight_kg": "9.000",
                "gross_weight_kg": "9.450",
                "value": {"amount": "240.00", "currency": "EUR"},
            },
            {
                "sku": "VALVE-2",
                "description": "Ball valve",
                "hs_code": "848180",
                "origin_country": "IT",
                "quantity": 3,
                "net_weight_kg": "2.400",
                "gross_weight_kg": "2.520",
                "value": {"amount": "46.50", "currency": "EUR"},
            },
        ]
        assert customs["total_value"] == {"amount": "286.50", "currency": "EUR"}
        assert shipment["packages"]["count"] == 1 and shipment["packages"]["type"] == "pallet"
        assert shipment["packages"]["weight_kg"] == "36.970"  # 11.970 kg goods + a 25 kg pallet
        assert shipment["mode"] == "air" and shipment["carrier"] == "lufthansa-cargo"  # cheapest for 11.4 kg
        assert rules.tracking_number_valid("lufthansa-cargo", shipment["tracking_number"])

        # The pack: the commercial invoice waits for finance; the rest can be printed now.
        listing = await c.get(f"{API}/shipments/{booked['id']}/documents", headers=svc.auth("compliance"))
        assert listing.status_code == 200, listing.text
        docs = {d["kind"]: d for d in listing.json()["items"]}
        assert list(docs) == list(kinds)
        assert docs["commercial_invoice"]["exists"] is False and "finance" in docs["commercial_invoice"]["missing"]
        assert all(docs[k]["exists"] and not docs[k]["stored"] for k in kinds[1:])
        assert docs["packing_list"]["url"] == f"{API}/shipments/{booked['id']}/documents/packing_list"

        # Dispatch is refused while a required paper is missing: 409 naming it, nothing changes.
        track = f"{API}/shipments/{booked['id']}/tracking"
        refused = await c.post(track, json={"status": "picked_up"}, headers=ops)
        assert refused.status_code == 409 and refused.headers["content-type"].startswith(PROBLEM)
        assert "commercial_invoice" in refused.json()["detail"]
        missing_pdf = await c.get(f"{API}/shipments/{booked['id']}/documents/commercial_invoice", headers=ops)
        assert missing_pdf.status_code == 409 and missing_pdf.json()["field"] == "kind"
        unknown_kind = await c.get(f"{API}/shipments/{booked['id']}/documents/passport", headers=ops)
        assert unknown_kind.status_code == 404 and unknown_kind.json()["field"] == "kind"
        assert (await c.get(f"{API}/shipments/nope/documents", headers=ops)).status_code == 404
        after_refusal = (await c.get(f"{API}/shipments/{booked['id']}", headers=ops)).json()
        assert after_refusal["status"] == "booked" and after_refusal["milestones"] == []
        assert (await stock(svc, "PUMP-1"))["on_hand"] == 20

        # Finance issues the commercial invoice; the pack is complete.
        await svc.deliver(commercial_invoice(us_terms))

        async def invoice_ready():
            r = await c.get(f"{API}/shipments/{booked['id']}/documents", headers=ops)
            return all(d["exists"] for d in r.json()["items"]) or None

        await eventually(invoice_ready)
        texts = {}
        for kind in kinds:
            r = await c.get(f"{API}/shipments/{booked['id']}/documents/{kind}", headers=svc.auth("partner"))
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "application/pdf"
            texts[kind] = pdf_text(r.content)
            again = await c.get(f"{API}/shipments/{booked['id']}/documents/{kind}", headers=ops)
            assert again.content == r.content, "produced once, served as stored"
        for kind in ("commercial_invoice", "packing_list", "export_declaration"):
            for needle in ("841370", "848180", "PUMP-1", "VALVE-2"):
                assert needle in texts[kind], (kind, needle)
        assert "€240.00" in texts["commercial_invoice"] and "€286.50" in texts["commercial_invoice"]
        assert "INV-2026-000042" in texts["commercial_invoice"] and "4 No. 1a UStG" in texts["commercial_invoice"]
        assert "€46.50" in texts["export_declaration"] and "DDP" in texts["export_declaration"]
        assert "Certificate of origin" in texts["certificate_of_origin"]
        assert "IT" in texts["certificate_of_origin"] and "841370" in texts["certificate_of_origin"]
        assert "Packing list" in texts["packing_list"] and "36.970" in texts["packing_list"]
        stored = (await c.get(f"{API}/shipments/{booked['id']}/documents", headers=ops)).json()["items"]
        assert all(d["stored"] for d in stored)

        # Compliance holds the order after clearing it (re-screening): dispatch is refused again.
        await svc.deliver(OrderHeld(order_id=us, check_id="chk-us-2", reasons=["watchlist match"]))

        async def held():
            r = await c.get(f"{API}/orders/{us}", headers=ops)
            return r.json()["held"] or None

        await eventually(held)
        held_refusal = await c.post(track, json={"status": "picked_up"}, headers=ops)
        assert held_refusal.status_code == 409 and "held" in held_refusal.json()["detail"]
        # The officer releases it: cleared again lifts the hold; nothing is reserved or booked twice.
        await svc.deliver(OrderCleared(order_id=us, check_id="chk-us-2", decided_by="officer", order=us_terms))

        async def lifted():
            r = await c.get(f"{API}/orders/{us}", headers=ops)
            return (not r.json()["held"]) or None

        await eventually(lifted)
        assert (await stock(svc, "PUMP-1"))["reserved"] == 2
        assert len(await shipments_of(svc, us)) == 1

        # Signed carrier events: only Lufthansa Cargo's secret moves its shipment.
        carrier_id = shipment["carrier"]
        secret = carriers.secrets_for(svc.settings, svc.runtime.config)[carrier_id]
        events_url = f"{API}/carriers/{carrier_id}/events"
        t0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)

        def body(status: str, at: datetime, **extra) -> bytes:
            payload = {"tracking_number": shipment["tracking_number"], "status": status, "at": at.isoformat(), **extra}
            return json.dumps(payload).encode()

        async def post(raw: bytes, signature: str | None, url: str = events_url):
            headers = {"Content-Type": "application/json"}
            if signature is not None:
                headers[carriers.HEADER] = signature
            return await c.post(url, content=raw, headers=headers)

        pick_up = body("RCS", t0, location="Frankfurt")  # Lufthansa Cargo's own code for the pick-up
        for bad_signature in [
            None,
            "sha256=nothex",
            "md5=" + "0" * 64,
            carriers.sign("wrong-secret", pick_up),
            carriers.sign(secret, body("RCS", t0, location="Elsewhere")),  # signed another body
        ]:
            r = await post(pick_up, bad_signature)
            assert r.status_code == 401 and r.headers["content-type"].startswith(PROBLEM), r.text
            assert r.json()["field"] == carriers.HEADER
        unknown = await post(pick_up, carriers.sign(secret, pick_up), url=f"{API}/carriers/pigeon-post/events")
        assert unknown.status_code == 404 and unknown.json()["field"] == "carrier"
        for bad, field in [
            (body("TELEPORTED", t0), "status"),
            (json.dumps({"tracking_number": shipment["tracking_number"], "status": "RCS"}).encode(), "at"),
            (b"not json", "body"),
        ]:
            r = await post(bad, carriers.sign(secret, bad))
            assert r.status_code == 422, r.text
            assert r.json()["field"] == field
        other = body("RCS", t0).replace(shipment["tracking_number"].encode(), b"020-00000000")
        assert (await post(other, carriers.sign(secret, other))).status_code == 404
        untouched = (await c.get(f"{API}/shipments/{booked['id']}", headers=ops)).json()
        assert untouched["status"] == "booked" and untouched["milestones"] == []

        accepted = await post(pick_up, carriers.sign(secret, pick_up))
        assert accepted.status_code == 202, accepted.text
        assert accepted.json() == {
            "shipment_id": booked["id"],
            "milestone": "picked_up",
            "applied": True,
            "shipment_status": "in_transit",
        }
        duplicate = await post(pick_up, carriers.sign(secret, pick_up))
        assert duplicate.status_code == 202 and duplicate.json()["applied"] is False
        delivered = body("DLV", t0 + timedelta(days=2), location="New York")
        assert (await post(delivered, carriers.sign(secret, delivered))).json()["shipment_status"] == "delivered"
        late = body("in_transit", t0 + timedelta(days=1))  # older than the delivery: changes nothing
        late_answer = await post(late, carriers.sign(secret, late))
        assert late_answer.status_code == 202 and late_answer.json()["applied"] is False
        final = (await c.get(f"{API}/shipments/{booked['id']}", headers=ops)).json()
        assert final["status"] == "delivered"
        assert [m["status"] for m in final["milestones"]] == ["picked_up", "delivered"]
        assert (await stock(svc, "PUMP-1"))["on_hand"] == 18, "dispatched once"

        # An EU order in German: the packing list is the only paper; an export licence when listed.
        eu = new_order_id()
        eu_terms = terms(eu, "FR", "DAP", [(VALVE, 4)], language="de")
        await svc.deliver(required(eu, "packing_list", "export_licence"))
        await svc.deliver(OrderCleared(order_id=eu, check_id="chk-eu", order=eu_terms))
        (eu_shipment,) = await eventually(lambda: shipments_of(svc, eu))
        assert (eu_shipment["mode"], eu_shipment["carrier"]) == ("road", "db-schenker")
        eu_track = f"{API}/shipments/{eu_shipment['id']}/tracking"
        no_licence = await c.post(eu_track, json={"status": "picked_up"}, headers=ops)
        assert no_licence.status_code == 409 and "export_licence" in no_licence.json()["detail"]
        await svc.deliver(
            LicenceRecorded(
                licence_id="lic-1", order_id=eu, number="AG-2026-77", authority="BAFA", valid_until=date(2027, 6, 30)
            )
        )

        async def licensed():
            r = await c.get(f"{API}/shipments/{eu_shipment['id']}/documents", headers=ops)
            return all(d["exists"] for d in r.json()["items"]) or None

        await eventually(licensed)
        german = await c.get(f"{API}/shipments/{eu_shipment['id']}/documents/packing_list", headers=ops)
        text = pdf_text(german.content)
        assert "Packliste" in text and "848180" in text and "IT" in text and "62,00" in text
        licence = pdf_text(
            (await c.get(f"{API}/shipments/{eu_shipment['id']}/documents/export_licence", headers=ops)).content
        )
        assert "AG-2026-77" in licence and "BAFA" in licence
        assert (await c.post(eu_track, json={"status": "picked_up"}, headers=ops)).status_code == 201

        events = await published(svc, expect=12)
        (dispatched,) = of_type(events, "shipment.dispatched", us)
        assert dispatched.data["carrier"] == "lufthansa-cargo" and dispatched.data["carrier_name"] == "Lufthansa Cargo"
        assert dispatched.data["mode"] == "air" and dispatched.data["tracking_number"] == shipment["tracking_number"]
        assert len(of_type(events, "shipment.booked", us)) == 1 and len(of_type(events, "stock.reserved", us)) == 1
        (reserved,) = of_type(events, "stock.reserved", us)
        assert {
            (lv["sku"], lv["warehouse"], lv["on_hand"], lv["reserved"], lv["available"])
            for lv in reserved.data["levels"]
        } == {
            ("PUMP-1", "HAM", 20, 2, 18),
            ("VALVE-2", "HAM", 20, 3, 17),
        }
        assert await wait_status(svc, us, "dispatched") == "dispatched"
