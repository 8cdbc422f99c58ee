"""Finance through the gateway: a Stripe-paid, shipped order has both invoices, a PDF, balanced books."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import io
import json
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pypdf
import pytest

from tests.e2e.conftest import Platform
from tests.e2e.flow import Gateway, unique

pytestmark = pytest.mark.e2e
D = Decimal


def stripe_delivery(secret: str, event_id: str, invoice_id: str, minor: int) -> tuple[bytes, dict[str, str]]:
    event = {
        "id": event_id,
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": f"pi_{event_id}",
                "object": "payment_intent",
                "amount_received": minor,
                "currency": "eur",
                "metadata": {"invoice_id": invoice_id},
            }
        },
    }
    body = json.dumps(event).encode()
    ts = int(time.time())
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={ts},v1={mac}", "Content-Type": "application/json"}


async def test_stripe_paid_shipped_order_has_proforma_commercial_invoice_pdf_and_balanced_books(platform: Platform):
    api = Gateway(platform)
    public = httpx.AsyncClient(base_url=f"{platform.gateway}/api/v1", timeout=30)  # no token: public route
    try:
        sku, _ = await api.stocked_product(10)
        account = await api.account(unique("Lyon Robinetterie"), country="FR", payment_terms="prepaid")
        order = await api.place_order(account, sku, 2, incoterm="DAP", destination="FR", named_place="Lyon")
        order_id = order["id"]
        [proforma] = await api.eventually(lambda: api.invoices(order_id), "finance issues the proforma")
        assert proforma["kind"] == "proforma" and proforma["vat_treatment"] == "eu_b2c_destination"

        # The webhook secret is generated into the data dir on first use (dev): a first, unsigned
        # delivery is refused and makes it; nothing is paid by it.
        url = "/finance/webhooks/stripe"
        refused = await public.post(url, content=b"{}", headers={"Stripe-Signature": "t=1,v1=00"})
        assert refused.status_code == 400 and refused.headers["content-type"] == "application/problem+json"
        secret = (platform.data_dir / "stripe-webhook-secret").read_text()
        minor = int(D(proforma["total"]["amount"]) * 100)
        body, headers = stripe_delivery(secret, unique("evt"), proforma["id"], minor)
        tampered = body.replace(b'"amount_received": %d' % minor, b'"amount_received": 1')
        assert (await public.post(url, content=tampered, headers=headers)).status_code == 400
        assert await api.items("/finance/payments", invoice_id=proforma["id"]) == []
        for _ in range(2):  # delivered twice, paid once
            answer = await public.post(url, content=body, headers=headers)
            assert answer.status_code == 200 and answer.json()["status"] == "applied", answer.text
        [payment] = await api.items("/finance/payments", invoice_id=proforma["id"])
        assert payment["method"] == "stripe" and payment["amount"] == proforma["total"]

        # Paid: logistics books the shipment, finance issues the commercial invoice.
        async def commercial():
            found = [i for i in await api.invoices(order_id) if i["kind"] == "commercial"]
            return found[0] if found else None

        invoice = await api.eventually(commercial, "finance issues the commercial invoice on booking")
        assert invoice["number"].startswith("INV-") and invoice["status"] == "paid"
        assert invoice["total"] == proforma["total"] and invoice["incoterm"] == "DAP"
        response = await api.call("GET", f"/finance/invoices/{invoice['id']}/pdf", 200)
        assert response.headers["content-type"] == "application/pdf"
        text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(response.content)).pages)
        hs_code = invoice["lines"][0]["hs_code"]
        assert hs_code.replace(".", "").startswith("841370")
        for expected in (invoice["number"], f"HS {hs_code}", "DAP Lyon", invoice["vat_note"].split(" (")[0]):
            assert expected in text, (expected, text)
        again = await api.call("GET", f"/finance/invoices/{invoice['id']}/pdf", 200)
        assert again.content == response.content

        # The books: balanced; the order's revenue, net of VAT, is in the revenue report.
        balance = await api.get("/finance/ledger/trial-balance")
        assert balance["total_debit"] == balance["total_credit"]
        aging = await api.get("/finance/reports/aging")
        assert aging["buckets"] == ["current", "1-30", "31-60", "61-90", "90+"]
        assert not any(a["account_id"] == account for a in aging["accounts"])  # paid: nothing open
        revenue = await api.items("/finance/reports/revenue", group_by="country")
        assert D(next(r for r in revenue if r["key"] == "FR")["revenue"]["amount"]) >= D(invoice["subtotal"]["amount"])
        assert len(await api.items("/finance/reports/cash-forecast", weeks=12)) == 12

        journal = (await api.call("GET", "/finance/exports/journal.csv", 200)).text
        sums: dict[str, D] = defaultdict(D)
        for row in csv.DictReader(io.StringIO(journal)):
            sums[row["entry_id"]] += D(row["debit"]) - D(row["credit"])
        assert sums and all(v == 0 for v in sums.values())
        iif = (await api.call("GET", "/finance/exports/quickbooks.iif", 200)).text
        assert iif.count("\nTRNS\t") + iif.startswith("TRNS\t") == iif.count("ENDTRNS") - 1 == len(sums)
    finally:
        await public.aclose()
        await api.close()


async def test_a_letter_of_credit_order_ships_only_under_its_letter_of_credit(platform: Platform):
    api = Gateway(platform)
    try:
        sku, _ = await api.stocked_product(5)
        account = await api.account(unique("Porto Bombas"), country="PT", payment_terms="letter_of_credit")
        order = await api.place_order(account, sku, 1, incoterm="DAP", destination="PT", named_place="Porto")
        order_id = order["id"]
        [proforma] = await api.eventually(lambda: api.invoices(order_id), "finance issues the proforma")
        await api.order_reaches(order_id, "confirmed")
        await asyncio.sleep(2)  # reserved and cleared: only the missing L/C holds the booking back
        assert await api.shipments(order_id) == [], "an L/C order must not ship without its letter of credit"

        today = datetime.now(UTC).date()
        body = {
            "order_id": order_id,
            "issuing_bank": "Banco Exemplo, Porto",
            "amount": proforma["total"],
            "expiry_date": (today + timedelta(days=60)).isoformat(),
            "latest_shipment_date": (today + timedelta(days=30)).isoformat(),
        }
        credit = await api.post("/finance/letters-of-credit", body)
        [shipment] = await api.eventually(lambda: api.shipments(order_id), "logistics books under the L/C")
        assert shipment["status"] == "booked"

        async def commercial():
            found = [i for i in await api.invoices(order_id) if i["kind"] == "commercial"]
            return found[0] if found else None

        invoice = await api.eventually(commercial, "the commercial invoice on booking")
        settled = await api.post(
            f"/finance/letters-of-credit/{credit['id']}/presentations",
            {"documents": ["commercial_invoice", "bill_of_lading"]},
        )
        assert settled["status"] == "settled"
        assert (await api.get(f"/finance/invoices/{invoice['id']}"))["status"] == "paid"
    finally:
        await api.close()
