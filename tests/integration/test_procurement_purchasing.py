"""Procurement on the real broker and real databases: suppliers screened by compliance, purchase
orders sent with their PDF, goods received and judged by QC, return notes, bad input."""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from datetime import date
from decimal import Decimal

import pypdf
from sqlalchemy import func
from sqlmodel import select

from hanse.events import CloudEvent, utcnow
from hanse.money import Money, round_money
from ops.smtp import SmtpSink
from services.compliance.contract import ScreeningCompleted
from services.finance.contract import SupplierBillRecorded
from services.procurement.models import PurchaseOrder, Receipt, SupplierPrice
from tests.conftest import make_settings
from tests.support.kafka import eventually, read_all
from tests.support.service import RunningService, run_service

PROBLEM = "application/problem+json"
YEAR = utcnow().year


def assert_problem(r, status: int, field: str | None = None) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    if field is not None:
        assert r.json()["field"] == field, r.json()


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)


async def register(svc: RunningService, **extra) -> dict:
    body = {
        "name": f"Stahlwerk {uuid.uuid4().hex[:6]} GmbH",
        "country": "DE",
        "currency": "EUR",
        "email": "orders@stahlwerk.example",
        "vat_id": "DE123456789",
        "lead_time_days": 14,
        "payment_terms": "net_30",
        **extra,
    }
    r = await svc.client.post("/api/v1/procurement/suppliers", json=body, headers=svc.auth("procurement"))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "pending"
    return r.json()


async def screened(svc: RunningService, supplier_id: str, result: str, expect: str) -> dict:
    check = ScreeningCompleted(
        check_id=f"chk-{uuid.uuid4().hex[:8]}", subject_type="supplier", subject_id=supplier_id, result=result
    )
    await svc.deliver(check)

    async def status():
        r = await svc.client.get(f"/api/v1/procurement/suppliers/{supplier_id}", headers=svc.auth("procurement"))
        return r.json() if r.json()["status"] == expect and r.json()["check_id"] == check.check_id else None

    return await eventually(status)


async def order(svc: RunningService, supplier_id: str, **extra) -> object:
    body = {
        "supplier_id": supplier_id,
        "warehouse": "HAM",
        "currency": "EUR",
        "incoterm": "FCA",
        "lines": [
            {"sku": "BOLT-8", "quantity": 100},
            {"sku": "NUT-8", "quantity": 50, "unit_price": {"amount": "0.20", "currency": "EUR"}},
        ],
        **extra,
    }
    return await svc.client.post("/api/v1/procurement/purchase-orders", json=body, headers=svc.auth("procurement"))


async def count(svc: RunningService, model) -> int:
    async with svc.runtime.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_supplier_is_screened_by_compliance_and_a_later_block_stops_its_orders(settings):
    async with run_service("procurement", settings) as svc:
        supplier = await register(svc)
        [record] = await read_all(settings.kafka_bootstrap_servers, settings.topic("procurement"), expect=1)
        event = CloudEvent.from_json(record.value)
        assert event.type == "procurement.supplier.registered.v1" and event.data["supplier_id"] == supplier["id"]
        assert event.data["name"] == supplier["name"] and event.data["country"] == "DE"

        # Review leaves it pending; clear approves; a re-screening that blocks it blocks it.
        await screened(svc, supplier["id"], "review", "pending")
        await screened(svc, supplier["id"], "clear", "approved")
        price = {"unit_price": {"amount": "1.50", "currency": "EUR"}, "moq": 10}
        r = await svc.client.put(
            f"/api/v1/procurement/suppliers/{supplier['id']}/prices/BOLT-8", json=price, headers=svc.auth("procurement")
        )
        assert r.status_code == 200 and r.json()["unit_price"] == {"amount": "1.50", "currency": "EUR"}
        draft = await order(svc, supplier["id"])
        assert draft.status_code == 201, draft.text
        await screened(svc, supplier["id"], "blocked", "blocked")

        send = await svc.client.post(
            f"/api/v1/procurement/purchase-orders/{draft.json()['id']}/send", headers=svc.auth("procurement")
        )
        assert_problem(send, 409, "supplier_id")
        assert_problem(await order(svc, supplier["id"]), 409, "supplier_id")
        listed = await svc.client.get(
            "/api/v1/procurement/purchase-orders",
            params={"supplier_id": supplier["id"]},
            headers=svc.auth("procurement"),
        )
        assert [o["status"] for o in listed.json()["items"]] == ["draft"]

        # A new name is a new party to screen: pending again, announced again; then cleared again.
        renamed = await svc.client.patch(
            f"/api/v1/procurement/suppliers/{supplier['id']}",
            json={"name": "Stahlwerk Nord AG"},
            headers=svc.auth("procurement"),
        )
        assert renamed.status_code == 200 and renamed.json()["status"] == "pending"
        records = await read_all(settings.kafka_bootstrap_servers, settings.topic("procurement"), expect=2)
        assert CloudEvent.from_json(records[-1].value).data["name"] == "Stahlwerk Nord AG"
        await screened(svc, supplier["id"], "clear", "approved")
        bad = await svc.client.patch(
            f"/api/v1/procurement/suppliers/{supplier['id']}", json={"country": "ZZ"}, headers=svc.auth("procurement")
        )
        assert_problem(bad, 422, "country")

        # Bad prices: below zero, a fraction of a cent, an unknown supplier; nothing changes.
        for body, status, field in (
            ({"unit_price": {"amount": "-0.01", "currency": "EUR"}}, 422, "unit_price.amount"),
            ({"unit_price": {"amount": "1.001", "currency": "EUR"}}, 422, None),
            ({"unit_price": {"amount": "1.00", "currency": "XXZ"}}, 422, "unit_price.currency"),
        ):
            r = await svc.client.put(
                f"/api/v1/procurement/suppliers/{supplier['id']}/prices/BOLT-8",
                json=body,
                headers=svc.auth("procurement"),
            )
            assert_problem(r, status, field)
        r = await svc.client.put(
            "/api/v1/procurement/suppliers/sup-nobody/prices/BOLT-8", json=price, headers=svc.auth("procurement")
        )
        assert_problem(r, 404, "supplier_id")
        async with svc.runtime.db.session() as session:
            [stored] = (await session.exec(select(SupplierPrice))).all()
        assert str(stored.unit_price.normalize()) == "1.5" and stored.moq == 10


async def test_a_purchase_order_goes_out_by_mail_with_its_pdf_and_qc_decides_what_becomes_stock(
    broker, database_url, smtp_sink: SmtpSink
):
    settings = make_settings(broker.bootstrap, database_url, smtp_url=smtp_sink.url)
    async with run_service("procurement", settings) as svc:
        supplier = await register(
            svc,
            name="Aciérie du Nord, S.A.",
            country="FR",
            currency="USD",
            email="achats@acier.example",
            payment_terms="net_60",
        )
        await screened(svc, supplier["id"], "clear", "approved")
        await svc.client.put(
            f"/api/v1/procurement/suppliers/{supplier['id']}/prices/BOLT-8",
            json={"unit_price": {"amount": "1.00", "currency": "EUR"}},
            headers=svc.auth("procurement"),
        )

        # Bad orders change nothing: an unknown currency, one without an ECB rate, no price.
        assert_problem(await order(svc, supplier["id"], currency="XYZ"), 422, "currency")
        assert_problem(await order(svc, supplier["id"], currency="AFN"), 422, "currency")
        no_price = {"lines": [{"sku": "WASHER-1", "quantity": 5}]}
        assert_problem(await order(svc, supplier["id"], **no_price), 422, "lines.0.unit_price")
        assert_problem(await order(svc, "sup-nobody"), 422, "supplier_id")
        assert await count(svc, PurchaseOrder) == 0

        usd_lines = {
            "lines": [
                {"sku": "BOLT-8", "quantity": 100},
                {"sku": "NUT-8", "quantity": 50, "unit_price": {"amount": "0.20", "currency": "USD"}},
            ]
        }
        r = await order(svc, supplier["id"], currency="USD", **usd_lines)
        assert r.status_code == 201, r.text
        po = r.json()
        assert po["status"] == "draft" and re.fullmatch(rf"PO-{YEAR}-0+1", po["number"])
        # The BOLT-8 price (EUR) converted at the ECB rate; the rate to the base currency is stored.
        bolt = po["lines"][0]
        assert bolt["unit_price"]["currency"] == "USD" and bolt["unit_price"]["amount"] != "1.00"
        assert po["fx_rate"] is not None and po["fx_rate_date"] is not None and po["total_base"]["currency"] == "EUR"

        # Racing drafts take the next numbers, without a gap.
        racing = await asyncio.gather(*(order(svc, supplier["id"], currency="USD", **usd_lines) for _ in range(4)))
        assert sorted(int(r.json()["number"].rsplit("-", 1)[1]) for r in racing) == [2, 3, 4, 5]

        # Goods cannot arrive for a draft.
        receipt = {"lines": [{"sku": "BOLT-8", "quantity": 60}]}
        url = f"/api/v1/procurement/purchase-orders/{po['id']}"
        assert_problem(await svc.client.post(f"{url}/receipts", json=receipt, headers=svc.auth("procurement")), 409)

        sent = await svc.client.post(f"{url}/send", headers=svc.auth("procurement"))
        assert sent.status_code == 200 and sent.json()["status"] == "sent"
        assert_problem(await svc.client.post(f"{url}/send", headers=svc.auth("procurement")), 409, "status")

        [mail] = await eventually(lambda: _messages(smtp_sink))
        assert mail["To"].addresses[0].addr_spec == "achats@acier.example"
        assert mail["To"].addresses[0].display_name == "Aciérie du Nord S.A."
        assert po["number"] in mail["Subject"] and "Bon de commande" in mail["Subject"]
        [attachment] = [p for p in mail.iter_attachments()]
        assert attachment.get_filename() == f"{po['number']}.pdf"
        text = pdf_text(attachment.get_payload(decode=True))
        assert "Bon de commande" in text and po["number"] in text and "BOLT-8" in text
        pdf = await svc.client.get(f"{url}/pdf", headers=svc.auth("finance"))
        assert pdf.status_code == 200 and pdf.content == attachment.get_payload(decode=True)

        # More than ordered: refused, nothing received.
        too_many = {"lines": [{"sku": "BOLT-8", "quantity": 101}]}
        assert_problem(
            await svc.client.post(f"{url}/receipts", json=too_many, headers=svc.auth("logistics")),
            422,
            "lines.0.quantity",
        )
        assert await count(svc, Receipt) == 0

        first = await svc.client.post(f"{url}/receipts", json=receipt, headers=svc.auth("logistics"))
        assert first.status_code == 201, first.text
        inspection_id = first.json()["inspection_id"]
        got = (await svc.client.get(url, headers=svc.auth("procurement"))).json()
        assert got["status"] == "partially_received" and got["lines"][0]["received"] == 60
        assert got["lines"][0]["accepted"] == 0, "received goods are not stock before QC"

        # QC: more than received is refused and changes nothing.
        result_url = f"/api/v1/procurement/inspections/{inspection_id}/result"
        over = {"lines": [{"sku": "BOLT-8", "accepted": 58, "rejected": 3}]}
        assert_problem(
            await svc.client.post(result_url, json=over, headers=svc.auth("logistics")), 422, "lines.0.accepted"
        )
        qc = {"lines": [{"sku": "BOLT-8", "accepted": 57, "rejected": 3, "notes": "thread damaged"}]}
        done = await svc.client.post(result_url, json=qc, headers=svc.auth("logistics"))
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "done" and done.json()["return_note_id"]
        assert_problem(await svc.client.post(result_url, json=qc, headers=svc.auth("logistics")), 409)

        records = await read_all(settings.kafka_bootstrap_servers, settings.topic("procurement"), expect=2)
        [accepted] = [CloudEvent.from_json(r.value) for r in records if b"goods.accepted" in r.value]
        data = accepted.data
        unit = bolt["unit_price"]["amount"]
        assert data["warehouse"] == "HAM" and data["currency"] == "USD" and data["supplier_id"] == supplier["id"]
        assert data["lines"] == [{"sku": "BOLT-8", "accepted": 57, "rejected": 3, "unit_price": unit}]
        assert data["accepted_value"]["amount"] == done.json()["accepted_value"]["amount"]
        assert data["payment_terms"] == "net_60" and data["supplier_country"] == "FR" and data["incoterm"] == "FCA"
        base_value = Decimal(data["accepted_value"]["amount"]) * Decimal(data["fx_rate"])
        assert Decimal(data["accepted_value_base"]["amount"]) == round_money(base_value, "EUR")
        assert data["accepted_value_base"]["currency"] == "EUR" and data["fx_rate"] == po["fx_rate"]
        assert (date.fromisoformat(data["due_date"]) - utcnow().date()).days == 60
        assert accepted.correlationid == po["id"]

        # The rest arrives and is all good: received, then closed once QC has judged it.
        rest = {"lines": [{"sku": "BOLT-8", "quantity": 40}, {"sku": "NUT-8", "quantity": 50}]}
        second = await svc.client.post(f"{url}/receipts", json=rest, headers=svc.auth("procurement"))
        assert second.status_code == 201
        assert (await svc.client.get(url, headers=svc.auth("procurement"))).json()["status"] == "received"
        all_good = {
            "lines": [{"sku": "BOLT-8", "accepted": 40, "rejected": 0}, {"sku": "NUT-8", "accepted": 50, "rejected": 0}]
        }
        r = await svc.client.post(
            f"/api/v1/procurement/inspections/{second.json()['inspection_id']}/result",
            json=all_good,
            headers=svc.auth("procurement"),
        )
        assert r.status_code == 200, r.text
        final = (await svc.client.get(url, headers=svc.auth("procurement"))).json()
        assert final["status"] == "closed"
        assert [(line["accepted"], line["rejected"]) for line in final["lines"]] == [(97, 3), (50, 0)]
        [note] = final["return_notes"]
        assert re.fullmatch(rf"RN-{YEAR}-0+1", note["number"]) and note["lines"][0]["quantity"] == 3
        note_pdf = await svc.client.get(
            f"/api/v1/procurement/return-notes/{note['id']}/pdf", headers=svc.auth("procurement")
        )
        assert note_pdf.status_code == 200 and "thread damaged" in pdf_text(note_pdf.content)

        # Finance booked the bill: the order shows it, once however often it is told.
        bill = SupplierBillRecorded(
            bill_id="bill-1",
            supplier_id=supplier["id"],
            purchase_order_id=po["id"],
            currency="USD",
            total=Money.of(data["accepted_value"]["amount"], "USD"),
            due_date=date.fromisoformat(data["due_date"]),
        )
        await svc.deliver(bill)
        await svc.deliver(bill)

        async def billed():
            got = (await svc.client.get(url, headers=svc.auth("finance"))).json()
            return got["bills"] if got["bills"] else None

        [shown] = await eventually(billed)
        assert shown["bill_id"] == "bill-1" and shown["total"] == data["accepted_value"]

        # Filters of the list: by status and by SKU.
        by_sku = await svc.client.get(
            "/api/v1/procurement/purchase-orders",
            params={"sku": "NUT-8", "status": "closed"},
            headers=svc.auth("finance"),
        )
        assert [o["id"] for o in by_sku.json()["items"]] == [po["id"]]
        none = await svc.client.get(
            "/api/v1/procurement/purchase-orders", params={"sku": "OTHER"}, headers=svc.auth("finance")
        )
        assert none.json()["items"] == []


async def _messages(sink: SmtpSink):
    return sink.messages() or None
