"""Supplier bills from procurement's accepted goods: payables, purchases, input VAT; in the forecast."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from hanse.money import Money
from services.finance.contract import SupplierBillRecorded
from services.procurement.contract import AcceptedLine, GoodsAccepted, SupplierRegistered
from tests.integration.test_finance_api import assert_problem, finance_events, handled
from tests.support.kafka import eventually
from tests.support.service import run_service

D = Decimal
API = "/api/v1/finance"


def accepted(n: int, supplier_id: str, value: str, currency: str, due_in: int) -> GoodsAccepted:
    return GoodsAccepted(
        inspection_id=f"qc-{n}",
        receipt_id=f"rcpt-{n}",
        purchase_order_id=f"po-{n}",
        purchase_order_number=f"PO-2026-{n:06d}",
        supplier_id=supplier_id,
        supplier_name=f"Supplier {supplier_id}",
        warehouse="HAM",
        currency=currency,
        lines=[AcceptedLine(sku="WID-1", accepted=10, rejected=0, unit_price=D(value) / 10)],
        accepted_value=Money.of(value, currency),
        payment_terms="net_30",
        due_date=datetime.now(UTC).date() + timedelta(days=due_in),
    )


def supplier(supplier_id: str, country: str, currency: str) -> SupplierRegistered:
    return SupplierRegistered(
        supplier_id=supplier_id,
        name=f"Supplier {supplier_id}",
        country=country,
        email=f"{supplier_id}@example.com",
        currency=currency,
        payment_terms="net_30",
    )


# HTTP and event behaviour, no locking: SQLite is enough (the ledger and invoice tests run on both).
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
async def test_accepted_goods_record_one_bill_each_with_the_vat_of_the_supplier(settings):
    async with run_service("finance", settings) as svc:
        h = svc.auth("procurement")
        for sid, country, cur in (("sup-de", "DE", "EUR"), ("sup-fr", "FR", "EUR"), ("sup-us", "US", "USD")):
            registered = await svc.deliver(supplier(sid, country, cur))
            # Suppliers are registered long before their goods arrive (another partition here).
            await eventually(lambda event=registered: handled(svc, event.id))
        await svc.deliver(accepted(1, "sup-de", "1000.00", "EUR", 10))
        await svc.deliver(accepted(2, "sup-fr", "500.00", "EUR", 40))
        # The event may name the supplier's country itself (it wins over the registration's).
        await svc.deliver(accepted(3, "sup-us", "200.00", "USD", 400).model_copy(update={"supplier_country": "US"}))
        last = await svc.deliver(accepted(1, "sup-de", "1000.00", "EUR", 10))  # redelivered as a new event
        await eventually(lambda: handled(svc, last.id))

        async def three_bills():
            items = (await svc.client.get(f"{API}/bills", headers=h)).json()["items"]
            return items if len(items) >= 3 else None

        bills = await eventually(three_bills)
        by_po = {b["purchase_order_id"]: b for b in bills}
        assert sorted(by_po) == ["po-1", "po-2", "po-3"]
        de, fr, us = by_po["po-1"], by_po["po-2"], by_po["po-3"]
        assert (de["vat_treatment"], de["net"]["amount"], de["tax"]["amount"], de["total"]["amount"]) == (
            "domestic",
            "1000.00",
            "190.00",
            "1190.00",
        )
        assert (fr["vat_treatment"], fr["tax"]["amount"], fr["total"]["amount"]) == (
            "reverse_charge",
            "95.00",
            "500.00",
        )
        assert (us["vat_treatment"], us["total"]) == ("import", {"amount": "200.00", "currency": "USD"})
        assert de["status"] == "open" and de["supplier_id"] == "sup-de"
        r = await svc.client.get(f"{API}/bills", params={"purchase_order_id": "po-2", "status": "open"}, headers=h)
        assert [b["id"] for b in r.json()["items"]] == [fr["id"]]
        assert (await svc.client.get(f"{API}/bills", params={"status": "paid"}, headers=h)).json()["items"] == []
        assert_problem(await svc.client.get(f"{API}/bills", params={"status": "late"}, headers=h), 422, "query.status")
        assert_problem(await svc.client.get(f"{API}/bills/bill_nope", headers=h), 404, "bill_id")

        f = svc.auth("finance")
        tb = {
            a["account"]: a for a in (await svc.client.get(f"{API}/ledger/trial-balance", headers=f)).json()["accounts"]
        }
        assert D(tb["3400"]["debit"]) > D("1500.00")  # purchases: 1000 + 500 + the USD bill in EUR
        assert tb["1570"]["balance"] == "285.00"  # input VAT: 190 domestic + 95 self-assessed
        assert tb["1776"]["balance"] == "-95.00"  # the self-assessed VAT owed
        assert D(tb["1600"]["balance"]) < D("-1690.00")  # payables: 1190 + 500 + the USD bill

        forecast = (await svc.client.get(f"{API}/reports/cash-forecast", params={"weeks": 12}, headers=f)).json()
        payments = [D(w["payments"]["amount"]) for w in forecast["items"]]
        assert sum(payments) == D("1690.00")  # the USD bill is due after the horizon

        # Paying the domestic bill in full: payables and bank move, the forecast drops it.
        url = f"{API}/bills/{de['id']}/payments"
        assert_problem(await svc.client.post(url, json={"reference": " "}, headers=f), 422, "reference")
        assert_problem(
            await svc.client.post(f"{API}/bills/bill_nope/payments", json={"reference": "x"}, headers=f), 404
        )
        assert (await svc.client.post(url, json={"reference": "SEPA-1"}, headers=h)).status_code == 403
        r = await svc.client.post(url, json={"reference": "SEPA-1"}, headers=f)
        assert r.status_code == 200 and r.json()["status"] == "paid" and r.json()["payment_reference"] == "SEPA-1"
        assert_problem(await svc.client.post(url, json={"reference": "SEPA-2"}, headers=f), 409, "bill_id")
        tb = {
            a["account"]: a for a in (await svc.client.get(f"{API}/ledger/trial-balance", headers=f)).json()["accounts"]
        }
        assert tb["1200"]["balance"] == "-1190.00"
        assert (await svc.client.get(f"{API}/bills", params={"status": "paid"}, headers=h)).json()["items"][0][
            "id"
        ] == de["id"]
        forecast = (await svc.client.get(f"{API}/reports/cash-forecast", params={"weeks": 12}, headers=f)).json()
        assert sum(D(w["payments"]["amount"]) for w in forecast["items"]) == D("500.00")

        events = await finance_events(svc, expect=3)
        recorded = [
            SupplierBillRecorded.model_validate(e.data) for e in events if e.type == SupplierBillRecorded.event_type
        ]
        assert sorted(b.purchase_order_id for b in recorded) == ["po-1", "po-2", "po-3"]
