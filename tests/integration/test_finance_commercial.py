"""Commercial invoices on booking, proforma payments carried over, credit notes for returns."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.finance.contract import CreditNoteIssued, InvoiceIssued
from services.logistics.contract import ReturnInspected, ReturnLine, ShipmentBooked
from tests.integration.test_finance_api import (
    cleared,
    finance_events,
    handled,
    invoices_of,
    new_order_id,
    pay,
    wait_invoice,
)
from tests.support.kafka import eventually
from tests.support.service import run_service

D = Decimal


def booked(order_id: str) -> ShipmentBooked:
    return ShipmentBooked(
        shipment_id=f"shp-{order_id}", order_id=order_id, carrier="dhl", mode="air", tracking_number="TRK1"
    )


# Event and HTTP behaviour: SQLite is enough (test_finance_api runs the locking on both databases).
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
async def test_booking_issues_the_commercial_invoice_that_takes_over_the_proforma(settings):
    async with run_service("finance", settings) as svc:
        year = datetime.now(UTC).year
        # Prepaid export to the US under DDP, paid in full on the proforma before shipping.
        paid_id = new_order_id()
        await svc.deliver(cleared(paid_id, currency="USD", buyer="US", incoterm="DDP"))
        proforma = await wait_invoice(svc, paid_id, kind="proforma")
        assert (await pay(svc, proforma["id"], proforma["total"]["amount"], "USD")).status_code == 201
        await svc.deliver(booked(paid_id))
        inv = await wait_invoice(svc, paid_id, kind="commercial")
        assert inv["number"] == f"INV-{year}-000001"
        assert inv["status"] == "paid" and inv["open_amount"]["amount"] == "0.00"
        assert inv["paid_amount"] == proforma["total"] and inv["total"] == proforma["total"]
        assert inv["incoterm"] == "DDP" and inv["named_place"] == "Destination"
        assert inv["duty"]["amount"] == "15.75" and inv["lines"][0]["hs_code"] == "847130"
        assert inv["vat_note"].startswith("Zero-rated export")
        [old] = [i for i in await invoices_of(svc, paid_id) if i["kind"] == "proforma"]
        assert old["status"] == "paid" and old["superseded_by_id"] == inv["id"]

        # A lifted hold clears the order again, the booking is redelivered: nothing new is issued.
        again = await svc.deliver(cleared(paid_id, currency="USD", buyer="US", incoterm="DDP"))
        twice = await svc.deliver(booked(paid_id))
        await eventually(lambda: handled(svc, again.id))
        await eventually(lambda: handled(svc, twice.id))
        assert sorted(i["kind"] for i in await invoices_of(svc, paid_id)) == ["commercial", "proforma"]

        # net_30, the booking overtakes the clearance: the commercial follows the proforma at once;
        # the unpaid proforma is superseded (open no more) and payments go to the commercial invoice.
        net_id = new_order_id()
        await svc.deliver(booked(net_id))
        await svc.deliver(cleared(net_id, payment_terms="net_30"))
        net = await wait_invoice(svc, net_id, kind="commercial")
        [pf] = [i for i in await invoices_of(svc, net_id) if i["kind"] == "proforma"]
        assert (pf["status"], pf["superseded_by_id"], pf["open_amount"]["amount"]) == ("issued", net["id"], "0.00")
        assert net["status"] == "issued" and net["open_amount"] == net["total"]
        assert (await pay(svc, pf["id"], "10.00", "EUR")).status_code == 409
        assert (await pay(svc, net["id"], net["total"]["amount"], "EUR")).status_code == 201

        # A return of 3 of the 10 widgets: 3 x 100.00 + 19 % VAT as invoiced, credited once.
        inspected = ReturnInspected(
            return_id="ret-1",
            rma_number="RMA-1",
            order_id=net_id,
            lines=[ReturnLine(sku="WID-1", quantity=3, restocked=2, scrapped=1)],
        )
        await svc.deliver(inspected)
        last = await svc.deliver(inspected.model_copy())
        await eventually(lambda: handled(svc, last.id))
        notes = [i for i in await invoices_of(svc, net_id) if i["kind"] == "credit_note"]
        assert len(notes) == 1
        note = notes[0]
        assert note["number"] == f"CN-{year}-000001" and note["return_id"] == "ret-1"
        assert (note["subtotal"]["amount"], note["tax"]["amount"], note["total"]["amount"]) == (
            "-300.00",
            "-57.00",
            "-357.00",
        )
        assert note["credited_invoice_id"] == net["id"] and note["lines"][0]["quantity"] == 3

        h = svc.auth("finance")
        tb = (await svc.client.get("/api/v1/finance/ledger/trial-balance", headers=h)).json()
        assert tb["total_debit"] == tb["total_credit"]

        events = await finance_events(svc, expect=10)
        issued = [InvoiceIssued.model_validate(e.data) for e in events if e.type == InvoiceIssued.event_type]
        commercial = next(i for i in issued if i.kind == "commercial" and i.order_id == paid_id)
        assert commercial.lines[0].hs_code == "847130" and commercial.lines[0].description == "Widget"
        assert commercial.incoterm == "DDP" and commercial.named_place == "Destination"
        assert commercial.pdf_path == f"/api/v1/finance/invoices/{commercial.invoice_id}/pdf"
        assert commercial.issue_date == datetime.now(UTC).date()
        [credit] = [CreditNoteIssued.model_validate(e.data) for e in events if e.type == CreditNoteIssued.event_type]
        assert (credit.reason, credit.return_id, credit.invoice_id) == ("return", "ret-1", net["id"])
        assert credit.total.amount == D("-357.00")
