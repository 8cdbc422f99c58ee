"""The buyer's mail in the account's language, through the kernel's outbox to a real SMTP sink."""

from __future__ import annotations

import asyncio
import importlib
import io
from datetime import date
from decimal import Decimal

import pypdf

from hanse.events import utcnow
from hanse.mail import format_money
from hanse.money import Money
from services.compliance.contract import OrderCleared, OrderHeld
from services.finance.contract import InvoiceIssued
from services.logistics.contract import ShipmentDelivered, ShipmentDispatched, ShortLine, StockShort
from services.sales.contract import OrderTerms
from tests.conftest import free_port, make_settings
from tests.integration.test_sales_api import (
    account_body,
    assert_problem,
    created,
    get,
    product_body,
    quote_body,
    sales_events,
)
from tests.integration.test_sales_orders import reserved, status_becomes
from tests.support.kafka import eventually
from tests.support.service import run_service, serve_on_port


def subjects(sink) -> list[str]:
    # A long subject is folded right after "Subject:"; unfolded it keeps the fold's space.
    return [m["Subject"].strip() for m in sink.messages()]


def invoice(order: dict, account_id: str, invoice_id: str = "inv_1") -> InvoiceIssued:
    total = Money.model_validate(order["total"])
    zero = Money(amount=0, currency=total.currency)
    return InvoiceIssued(
        invoice_id=invoice_id,
        number="PF-2026-000001",
        kind="proforma",
        order_id=order["id"],
        account_id=account_id,
        currency=total.currency,
        subtotal=total,
        tax=zero,
        duty=zero,
        total=total,
        vat_treatment="export",
        due_date=date(2026, 12, 31),
    )


async def test_the_buyer_hears_of_every_step_in_german_once(broker, database_url, smtp_sink, tmp_path, monkeypatch):
    monkeypatch.setenv("HANSE_SALES_INVOICE_MAIL_SECONDS", "0.2")
    settings = make_settings(broker.bootstrap, database_url, smtp_url=smtp_sink.url, mail_poll_seconds=0.1)
    finance_settings = make_settings(
        broker.bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'finance.db'}", topic_prefix=settings.topic_prefix
    )
    finance_app = importlib.import_module("services.finance.app").build(finance_settings)
    async with serve_on_port(finance_app, free_port()) as finance_url, run_service("sales", settings) as svc:
        monkeypatch.setenv("HANSE_FINANCE_URL", finance_url)
        await created(svc, "/products", product_body())
        acc = await created(svc, "/accounts", account_body(email="einkauf@muster.example", language="de"))
        quote = await created(svc, "/quotes", quote_body(acc["id"]))
        order = await created(svc, f"/quotes/{quote['id']}/accept", {})
        await eventually(lambda: _n(smtp_sink, 1))
        assert subjects(smtp_sink) == [f"Ihr Angebot {quote['id']}"]
        [quote_mail] = smtp_sink.messages()
        assert quote_mail["To"].addresses[0].addr_spec == "einkauf@muster.example"
        german_total = format_money(Decimal(quote["total"]["amount"]), "USD", "de")  # "2.569,60 $"
        assert german_total in quote_mail.get_body(preferencelist=("plain",)).get_content()

        await svc.deliver(reserved(order["id"]))
        await status_becomes(svc, order["id"], "confirmed")
        dispatched = ShipmentDispatched(
            shipment_id="shp_1",
            order_id=order["id"],
            at=utcnow(),
            carrier="dhl-express",
            carrier_name="DHL Express",
            mode="courier",
            tracking_number="JD014600006281234567",
        )
        await svc.deliver(dispatched)
        await svc.deliver(dispatched)  # the same fact in a second event mails nothing more
        await status_becomes(svc, order["id"], "shipped")
        await svc.deliver(ShipmentDelivered(shipment_id="shp_1", order_id=order["id"], at=utcnow()))
        await status_becomes(svc, order["id"], "delivered")
        await eventually(lambda: _n(smtp_sink, 4))

        # The invoice mail carries finance's PDF, fetched by a job outside the consumer.
        # Finance issues the proforma itself on clearance: its real invoice, its real PDF.
        placed = next(e for e in await sales_events(svc, expect=3) if e.type == "sales.order.placed.v1")
        terms = OrderTerms.model_validate(placed.data["order"])
        await svc.deliver(OrderCleared(order_id=order["id"], check_id="chk_1", order=terms))
        await eventually(lambda: _n(smtp_sink, 5), timeout=60)
        mail = next(m for m in smtp_sink.messages() if m["Subject"].strip().startswith("Rechnung"))
        number = mail["Subject"].split()[1]
        [pdf] = list(mail.iter_attachments())
        assert (pdf.get_content_type(), pdf.get_filename()) == ("application/pdf", f"{number}.pdf")
        assert number in pypdf.PdfReader(io.BytesIO(pdf.get_content())).pages[0].extract_text()
        await asyncio.sleep(0.5)

        sent = subjects(smtp_sink)
        assert len(sent) == 5, sent
        assert sent[:4] == [
            f"Ihr Angebot {quote['id']}",
            f"Auftrag {order['id']} bestätigt",
            f"Auftrag {order['id']} ist unterwegs",
            f"Auftrag {order['id']} zugestellt",
        ]
        dispatch_mail = next(m for m in smtp_sink.messages() if "unterwegs" in m["Subject"])
        text = dispatch_mail.get_body(preferencelist=("plain",)).get_content()
        assert "DHL Express" in text and "JD014600006281234567" in text

        # -- the account's notifications: what it was sent, in its language
        notes = (await get(svc, f"/accounts/{acc['id']}/notifications")).json()["items"]
        assert [n["kind"] for n in notes][:4] == [
            "quote_issued",
            "order_confirmed",
            "shipment_dispatched",
            "shipment_delivered",
        ]
        assert {n["language"] for n in notes} == {"de"}
        assert all(n["sent_at"] and n["subject"] for n in notes)
        assert_problem(await get(svc, "/accounts/acc_nope/notifications"), 404, "account_id")
        first_page = (await get(svc, f"/accounts/{acc['id']}/notifications", limit=1)).json()
        second_page = await get(svc, f"/accounts/{acc['id']}/notifications", limit=1, cursor=first_page["next_cursor"])
        assert second_page.json()["items"][0]["kind"] == "order_confirmed"
        assert_problem(await get(svc, f"/accounts/{acc['id']}/notifications", cursor="YWJj"), 422, "cursor")


async def _n(sink, n: int):
    return len(sink.messages()) >= n or None


async def test_a_hold_after_confirmation_is_lifted_without_confirming_twice(broker, database_url, smtp_sink):
    """A re-screening holds two confirmed-or-later orders; the clearance returns each where it was.
    The buyer heard of the confirmation once: the lift mails only an order confirmed meanwhile."""
    settings = make_settings(broker.bootstrap, database_url, smtp_url=smtp_sink.url, mail_poll_seconds=0.1)
    async with run_service("sales", settings) as svc:
        await created(svc, "/products", product_body())
        acc = await created(svc, "/accounts", account_body())
        orders = []
        for _ in range(2):
            quote = await created(svc, "/quotes", quote_body(acc["id"]))
            orders.append((await created(svc, f"/quotes/{quote['id']}/accept", {}))["id"])
        first, second = orders
        placed = [e for e in await sales_events(svc, expect=6) if e.type == "sales.order.placed.v1"]
        terms = {e.subject: OrderTerms.model_validate(e.data["order"]) for e in placed}

        # The first was confirmed (mailed), the second back-ordered, when the buyer lands on a list.
        await svc.deliver(reserved(first))
        await status_becomes(svc, first, "confirmed")
        await svc.deliver(StockShort(order_id=second, lines=[ShortLine(sku="PUMP-100", requested=10, available=0)]))
        await status_becomes(svc, second, "backordered")
        for order_id in orders:
            await svc.deliver(OrderHeld(order_id=order_id, check_id=f"chk-{order_id}", reasons=["list_match"]))
            held = await status_becomes(svc, order_id, "on_hold")
            assert held["held_from"] in ("confirmed", "backordered")
        # Stock for the second arrives under the hold: it stays held.
        await svc.deliver(reserved(second, backorder=True))

        async def returns_confirmed():
            order = (await get(svc, f"/orders/{second}")).json()
            return order if order["held_from"] == "confirmed" else None

        assert (await eventually(returns_confirmed))["status"] == "on_hold"

        for order_id in orders:
            cleared = OrderCleared(
                order_id=order_id, check_id=f"chk-{order_id}", decided_by="officer", order=terms[order_id]
            )
            await svc.deliver(cleared)
            back = await status_becomes(svc, order_id, "confirmed")
            assert back["held_from"] is None and back["history"][-1]["previous_status"] == "on_hold"
        await eventually(lambda: _n(smtp_sink, 4))
        await asyncio.sleep(0.5)
        confirmations = [s for s in subjects(smtp_sink) if s.endswith("confirmed")]
        assert confirmations == [f"Order {first} confirmed", f"Order {second} confirmed"]
