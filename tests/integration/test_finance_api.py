"""Finance on the real broker and real databases: proforma on clearance, payments, voiding, numbering."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import select

from hanse.events import CloudEvent
from hanse.money import Money, round_money
from hanse.uow import UnitOfWork
from services.compliance.contract import OrderCleared, OrderRejected
from services.finance.config import FinanceConfig
from services.finance.domain import invoices
from services.finance.models import Invoice, InvoiceCounter, Payment
from services.sales.contract import OrderCancelled, OrderLine, OrderTerms
from tests.support.kafka import eventually, read_all, send_raw
from tests.support.service import RunningService, run_service

D = Decimal
PROBLEM = "application/problem+json"


def terms(
    order_id: str,
    *,
    currency: str = "EUR",
    buyer: str = "DE",
    dest: str | None = None,
    incoterm: str = "DAP",
    payment_terms: str = "prepaid",
    vat_id: str | None = None,
    vat_id_valid: bool = False,
) -> OrderTerms:
    lines = [
        OrderLine(
            sku="WID-1",
            name="Widget",
            quantity=10,
            unit_price=D("100.00"),
            hs_code="847130",
            origin_country="DE",
            unit_weight_kg=D("2"),
        )
    ]
    return OrderTerms(
        order_id=order_id,
        quote_id=f"quo-{order_id}",
        account_id="acc-1",
        company="Acme",
        email="buyer@example.com",
        buyer_country=buyer,
        vat_id=vat_id,
        vat_id_valid=vat_id_valid,
        destination_country=dest or buyer,
        incoterm=incoterm,
        named_place="Destination",
        currency=currency,
        payment_terms=payment_terms,  # type: ignore[arg-type]
        lines=lines,
        freight=Money.of("50.00", currency),
        subtotal=Money.of("1000.00", currency),
        total=Money.of("1050.00", currency),
        placed_at=datetime.now(UTC),
    )


def cleared(order_id: str, **kw) -> OrderCleared:
    return OrderCleared(order_id=order_id, check_id=f"chk-{uuid.uuid4().hex[:8]}", order=terms(order_id, **kw))


def new_order_id() -> str:
    return f"ord-{uuid.uuid4().hex[:12]}"


async def handled(svc: RunningService, event_id: str) -> bool:
    inbox = svc.runtime.db.metadata.tables["inbox"]
    async with svc.runtime.db.session() as session:
        return (await session.exec(sa_select(inbox.c.event_id).where(inbox.c.event_id == event_id))).first() is not None


async def invoices_of(svc: RunningService, order_id: str) -> list[dict]:
    r = await svc.client.get("/api/v1/finance/invoices", params={"order_id": order_id}, headers=svc.auth("finance"))
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def wait_invoice(svc: RunningService, order_id: str, **match) -> dict:
    async def check():
        found = [i for i in await invoices_of(svc, order_id) if all(i[k] == v for k, v in match.items())]
        return found[0] if found else None

    return await eventually(check)


async def pay(svc: RunningService, invoice_id: str, amount: str, currency: str, **extra):
    body = {
        "invoice_id": invoice_id,
        "amount": {"amount": amount, "currency": currency},
        "method": "bank_transfer",
        "reference": "SWIFT-REF-1",
        **extra,
    }
    return await svc.client.post("/api/v1/finance/payments", json=body, headers=svc.auth("finance"))


def assert_problem(r, status: int, field: str | None = None) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    if field is not None:
        assert r.json()["field"] == field, r.json()


async def finance_events(svc: RunningService, expect: int) -> list[CloudEvent]:
    records = await read_all(svc.settings.kafka_bootstrap_servers, svc.settings.topic("finance"), expect=expect)
    return [CloudEvent.from_json(r.value) for r in records]


async def test_clearance_issues_one_proforma_that_payments_settle(settings):
    async with run_service("finance", settings) as svc:
        order_id = new_order_id()
        first = await svc.deliver(cleared(order_id, currency="USD", buyer="US", incoterm="DDP", payment_terms="net_30"))
        # The very same event redelivered, then a second clearance of the same order.
        await send_raw(
            settings.kafka_bootstrap_servers, settings.topic("compliance"), first.to_json(), order_id.encode()
        )
        second = await svc.deliver(cleared(order_id, currency="USD", buyer="US", incoterm="DDP"))
        # Same key, same partition: once the last one is handled, so are the ones before.
        await eventually(lambda: handled(svc, second.id))
        items = await invoices_of(svc, order_id)
        assert len(items) == 1
        inv = items[0]
        assert re.fullmatch(rf"PF-{datetime.now(UTC).year}-000001", inv["number"])
        assert (inv["kind"], inv["status"], inv["currency"]) == ("proforma", "issued", "USD")
        assert inv["vat_treatment"] == "export_zero_rated" and inv["tax"] == {"amount": "0.00", "currency": "USD"}
        assert inv["subtotal"]["amount"] == "1050.00"
        assert inv["duty"]["amount"] == "15.75"  # DDP into the US, chapter 84: 1.5 % of 1050.00
        assert inv["total"] == {"amount": "1065.75", "currency": "USD"}
        assert inv["open_amount"] == inv["total"]
        assert inv["order_id"] == order_id and inv["account_id"] == "acc-1"
        assert inv["lines"][0]["sku"] == "WID-1" and inv["lines"][0]["duty_rate"] == "0.015"
        issued_on = datetime.fromisoformat(inv["issued_at"]).date()
        assert inv["due_date"] == (issued_on + timedelta(days=30)).isoformat()
        fx_rate = D(inv["fx_rate"])
        assert fx_rate > 0 and inv["fx_rate_date"] and inv["base_currency"] == "EUR"
        assert inv["total_base"] == {"amount": str(round_money(D("1065.75") * fx_rate, "EUR")), "currency": "EUR"}
        got = await svc.client.get(f"/api/v1/finance/invoices/{inv['id']}", headers=svc.auth("sales"))
        assert got.status_code == 200 and got.json() == inv

        [event] = await finance_events(svc, expect=1)
        assert event.type == "finance.invoice.issued.v1"
        assert event.correlationid == order_id and event.causationid == first.id
        assert event.data["invoice_id"] == inv["id"] and event.data["number"] == inv["number"]
        assert event.data["total"] == inv["total"] and event.data["kind"] == "proforma"

        # -- bad payments: problem+json naming the field, nothing booked ------------------------------
        assert_problem(await pay(svc, inv["id"], "10.00", "EUR"), 422, "amount.currency")
        assert_problem(await pay(svc, inv["id"], "1065.76", "USD"), 422, "amount.amount")
        assert_problem(await pay(svc, inv["id"], "0", "USD"), 422, "amount.amount")
        assert_problem(await pay(svc, inv["id"], "-5.00", "USD"), 422, "amount.amount")
        assert_problem(await pay(svc, inv["id"], "1.001", "USD"), 422, "amount.amount")
        assert_problem(await pay(svc, inv["id"], "1e999999", "USD"), 422, "amount.amount")
        assert_problem(await pay(svc, "inv_unknown", "10.00", "USD"), 422, "invoice_id")
        assert_problem(await pay(svc, inv["id"], "10.00", "XXQ"), 422, "amount.currency")
        assert_problem(await pay(svc, inv["id"], "10.00", "USD", method="cash"), 422, "method")
        assert_problem(await pay(svc, inv["id"], "10.00", "USD", reference="  "), 422, "reference")
        assert_problem(await pay(svc, "", "10.00", "USD"), 422, "invoice_id")
        url, fin = "/api/v1/finance/payments", svc.auth("finance")
        float_amount = {"invoice_id": inv["id"], "amount": {"amount": 10.5, "currency": "USD"}}
        assert_problem(
            await svc.client.post(url, json={**float_amount, "method": "card", "reference": "x"}, headers=fin), 422
        )
        assert_problem(await svc.client.post(url, json={"invoice_id": inv["id"]}, headers=fin), 422)
        assert_problem(await svc.client.post(url, json=[1, 2], headers=fin), 422)
        bad_json = await svc.client.post(url, content=b"{nope", headers={**fin, "content-type": "application/json"})
        assert_problem(bad_json, 400)
        listed = await svc.client.get(url, params={"invoice_id": inv["id"]}, headers=fin)
        assert listed.json()["items"] == []

        # -- a part payment, then the rest -------------------------------------------------------------
        part = await pay(svc, inv["id"], "1000.00", "USD")
        assert part.status_code == 201, part.text
        body = part.json()
        assert body["invoice_id"] == inv["id"] and body["amount"] == {"amount": "1000.00", "currency": "USD"}
        assert body["open_amount"] == {"amount": "65.75", "currency": "USD"}
        assert body["method"] == "bank_transfer" and body["reference"] == "SWIFT-REF-1" and body["received_at"]
        assert_problem(await pay(svc, inv["id"], "65.76", "USD"), 422, "amount.amount")
        after_part = (await svc.client.get(f"/api/v1/finance/invoices/{inv['id']}", headers=fin)).json()
        assert after_part["status"] == "issued" and after_part["open_amount"]["amount"] == "65.75"
        rest = await pay(svc, inv["id"], "65.75", "USD", method="letter_of_credit")
        assert rest.status_code == 201 and rest.json()["open_amount"]["amount"] == "0.00"
        paid = (await svc.client.get(f"/api/v1/finance/invoices/{inv['id']}", headers=fin)).json()
        assert paid["status"] == "paid" and paid["open_amount"]["amount"] == "0.00"
        assert paid["paid_amount"] == inv["total"]
        assert_problem(await pay(svc, inv["id"], "1.00", "USD"), 409)

        by_invoice = await svc.client.get(url, params={"invoice_id": inv["id"]}, headers=fin)
        by_order = await svc.client.get(url, params={"order_id": order_id}, headers=fin)
        assert [p["id"] for p in by_invoice.json()["items"]] == [body["id"], rest.json()["id"]]
        assert by_order.json() == by_invoice.json()
        one = await svc.client.get(f"{url}/{body['id']}", headers=fin)
        assert one.status_code == 200 and one.json() == body

        events = await finance_events(svc, expect=4)
        types = [e.type for e in events]
        assert types.count("finance.payment.received.v1") == 2 and types.count("finance.invoice.paid.v1") == 1
        assert all(e.correlationid == order_id for e in events)
        [paid_event] = [e for e in events if e.type == "finance.invoice.paid.v1"]
        assert paid_event.data["total"] == {"amount": "1065.75", "currency": "USD"}
        assert paid_event.data["total_base"] == inv["total_base"]
        assert D(paid_event.data["fx_rate"]) == fx_rate and paid_event.data["fx_rate_date"] == inv["fx_rate_date"]

        # -- roles, unknown ids and bad query parameters ---------------------------------------------
        inv_url = "/api/v1/finance/invoices"
        assert_problem(await svc.client.get(inv_url), 401)
        assert_problem(await svc.client.get(inv_url, headers={"Authorization": "Bearer nope"}), 401)
        assert_problem(await svc.client.get(inv_url, headers=svc.auth("logistics")), 403)
        assert (await svc.client.get(inv_url, headers=svc.auth("admin"))).status_code == 200
        assert_problem(await svc.client.post(url, json={}), 401)
        as_sales = await svc.client.post(url, json={"invoice_id": inv["id"]}, headers=svc.auth("sales"))
        assert_problem(as_sales, 403)
        assert_problem(await svc.client.get(url, headers=svc.auth("sales")), 403)
        assert_problem(await svc.client.get(f"{inv_url}/inv_nope", headers=fin), 404)
        assert_problem(await svc.client.get(f"{url}/pay_nope", headers=fin), 404)
        assert_problem(await svc.client.get(inv_url, params={"status": "lost"}, headers=fin), 422, "query.status")
        assert_problem(await svc.client.get(inv_url, params={"kind": "receipt"}, headers=fin), 422, "query.kind")
        assert_problem(await svc.client.get(inv_url, params={"limit": 0}, headers=fin), 422, "query.limit")
        assert_problem(await svc.client.get(inv_url, params={"cursor": "_w"}, headers=fin), 422, "cursor")
        assert_problem(await svc.client.get(url, params={"order_id": ""}, headers=fin), 422, "query.order_id")
        # Nothing changed by any of it.
        async with svc.runtime.db.session() as session:
            assert (await session.exec(select(func.count()).select_from(Payment))).one() == 2


async def test_cancel_and_rejection_void_credit_or_prevent_invoices(settings):
    async with run_service("finance", settings) as svc:
        voided, early, paid_then_cancelled, rejected, part_paid = (new_order_id() for _ in range(5))
        await svc.deliver(cleared(voided, buyer="FR"))
        await svc.deliver(cleared(paid_then_cancelled, buyer="FR", vat_id="FR40303265045", vat_id_valid=True))
        await svc.deliver(cleared(rejected))
        await svc.deliver(cleared(part_paid))
        # Cancelled before finance ever saw the clearance: a tombstone, and the late clearance issues nothing.
        early_cancel = await svc.deliver(
            OrderCancelled(order_id=early, previous_status="placed", reason="changed mind")
        )
        await eventually(lambda: handled(svc, early_cancel.id))  # other topic: make sure it came first
        late = await svc.deliver(cleared(early))

        inv_void = await wait_invoice(svc, voided)
        assert inv_void["vat_treatment"] == "eu_b2c_destination" and inv_void["tax"]["amount"] == "210.00"
        inv_paid = await wait_invoice(svc, paid_then_cancelled)
        assert inv_paid["vat_treatment"] == "reverse_charge" and inv_paid["tax"]["amount"] == "0.00"
        assert "reverse charge" in inv_paid["vat_note"].lower()
        await wait_invoice(svc, rejected)
        inv_part = await wait_invoice(svc, part_paid)
        assert inv_part["tax"]["amount"] == "199.50" and inv_part["total"]["amount"] == "1249.50"
        assert inv_part["fx_rate"] is None and inv_part["total_base"] == inv_part["total"]
        assert inv_part["due_date"] == datetime.fromisoformat(inv_part["issued_at"]).date().isoformat()
        await eventually(lambda: handled(svc, late.id))
        assert await invoices_of(svc, early) == []

        assert (await pay(svc, inv_paid["id"], "1050.00", "EUR")).status_code == 201
        assert (await pay(svc, inv_part["id"], "249.50", "EUR")).status_code == 201

        cancel = await svc.deliver(OrderCancelled(order_id=voided, previous_status="confirmed", reason="out of budget"))
        await svc.deliver(OrderCancelled(order_id=paid_then_cancelled, previous_status="ready_to_ship"))
        reject = await svc.deliver(
            OrderRejected(order_id=rejected, check_id="chk-x", reasons=["embargoed destination"], decided_by="officer")
        )
        await svc.deliver(OrderCancelled(order_id=part_paid, previous_status="confirmed"))

        gone = await wait_invoice(svc, voided, status="void")
        assert gone["open_amount"]["amount"] == "0.00" and "out of budget" in gone["void_reason"]
        assert_problem(await pay(svc, gone["id"], "10.00", "EUR"), 409)
        assert (await wait_invoice(svc, rejected, status="void"))["void_reason"].startswith("order rejected")

        # Paid in full: the invoice stays paid and a credit note takes its exact negative.
        note = await wait_invoice(svc, paid_then_cancelled, kind="credit_note")
        year = datetime.now(UTC).year
        assert note["number"] in {f"CN-{year}-000001", f"CN-{year}-000002"}
        assert note["total"] == {"amount": "-1050.00", "currency": "EUR"} and note["tax"]["amount"] == "0.00"
        assert note["credited_invoice_id"] == inv_paid["id"] and note["status"] == "issued"
        assert note["open_amount"]["amount"] == "-1050.00"  # owed back to the buyer
        assert_problem(await pay(svc, note["id"], "10.00", "EUR"), 409)
        assert (await wait_invoice(svc, paid_then_cancelled, kind="proforma"))["status"] == "paid"

        # Part-paid: voided, and what was received credited pro rata.
        part_note = await wait_invoice(svc, part_paid, kind="credit_note")
        assert part_note["total"]["amount"] == "-249.50"
        assert D(part_note["subtotal"]["amount"]) + D(part_note["tax"]["amount"]) == D("-249.50")
        assert (await wait_invoice(svc, part_paid, kind="proforma"))["status"] == "void"
        numbers = sorted([note["number"], part_note["number"]])
        assert numbers == [f"CN-{year}-000001", f"CN-{year}-000002"]

        # A clearance that can never be invoiced (freight in another currency) is dead-lettered,
        # and the consumer carries on.
        broken = cleared(new_order_id())
        broken = broken.model_copy(update={"order": broken.order.model_copy(update={"freight": Money.of("5", "USD")})})
        dead = await svc.deliver(broken)
        [letter] = await read_all(settings.kafka_bootstrap_servers, settings.dlq_topic("finance"), expect=1)
        assert CloudEvent.from_json(letter.value).id == dead.id
        assert dict(letter.headers)["hanse-dlq-reason"] == b"rejected"
        assert await invoices_of(svc, broken.order_id) == []

        # A redelivered cancel changes nothing more.
        again = await svc.deliver(OrderCancelled(order_id=paid_then_cancelled, previous_status="ready_to_ship"))
        await eventually(lambda: handled(svc, again.id))
        assert len(await invoices_of(svc, paid_then_cancelled)) == 2

        events = await finance_events(svc, expect=4 + 2 + 3 + 2)
        by_type: dict[str, list[CloudEvent]] = {}
        for e in events:
            by_type.setdefault(e.type, []).append(e)
        voids = {e.data["order_id"]: e for e in by_type["finance.invoice.voided.v1"]}
        assert set(voids) == {voided, rejected, part_paid}
        assert voids[voided].causationid == cancel.id and voids[voided].correlationid == voided
        assert voids[rejected].causationid == reject.id and "embargoed" in voids[rejected].data["reason"]
        credit_events = [e for e in by_type["finance.invoice.issued.v1"] if e.data["kind"] == "credit_note"]
        assert {e.data["order_id"] for e in credit_events} == {paid_then_cancelled, part_paid}
        assert all(e.data["credited_invoice_id"] for e in credit_events)
        assert not [e for e in events if e.data.get("order_id") == early]
        assert all(e.correlationid == e.data["order_id"] for e in events)
        assert await invoices_of(svc, early) == []


async def test_numbering_is_gap_free_under_concurrent_issue_and_payments_never_overpay(settings):
    async with run_service("finance", settings) as svc:
        db = svc.runtime.db

        async def issue(order: OrderTerms) -> str:
            async with db.session() as session:
                # No causing event: issue_proforma publishes with the order id as correlation id.
                uow = UnitOfWork(session, settings, FinanceConfig())
                invoice = await invoices.issue_proforma(uow, order)
                await uow.commit()
                assert invoice is not None
                return invoice.number

        orders = [terms(new_order_id()) for _ in range(30)]
        numbers = await asyncio.gather(*(issue(o) for o in orders))
        year = datetime.now(UTC).year
        assert sorted(numbers) == [f"PF-{year}-{n:06d}" for n in range(1, 31)]
        async with db.session() as session:
            rows = (await session.exec(select(Invoice).where(Invoice.kind == "proforma"))).all()
            assert sorted(r.sequence for r in rows) == list(range(1, 31))
            counter = await session.get(InvoiceCounter, ("PF", year))
            assert counter is not None and counter.last == 30
        # And the same order issued twice at once still gets one invoice and one number.
        twice = terms(new_order_id())
        a, b = await asyncio.gather(issue(twice), issue(twice))
        assert a == b == f"PF-{year}-000031"

        # Two concurrent payments of 60 % each: one is booked, the other would overpay.
        invoice = (await invoices_of(svc, orders[0].order_id))[0]
        assert invoice["total"]["amount"] == "1249.50"
        results = await asyncio.gather(*(pay(svc, invoice["id"], "749.70", "EUR") for _ in range(2)))
        assert sorted(r.status_code for r in results) == [201, 422]
        # Two concurrent payments of the whole rest: one settles it, the other finds it paid.
        results = await asyncio.gather(*(pay(svc, invoice["id"], "499.80", "EUR") for _ in range(2)))
        assert sorted(r.status_code for r in results) == [201, 409]
        async with db.session() as session:
            payments = (await session.exec(select(Payment).where(Payment.invoice_id == invoice["id"]))).all()
            assert sum(p.amount for p in payments) == D("1249.50") and len(payments) == 2
            stored = await session.get(Invoice, invoice["id"])
            assert stored is not None and stored.status == "paid"
