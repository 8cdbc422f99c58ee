"""Reports: aging, revenue and cash forecast match the invoices they come from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.integration.test_finance_api import assert_problem, cleared, new_order_id, pay, wait_invoice
from tests.support.service import run_service

D = Decimal
API = "/api/v1/finance/reports"


# HTTP and event behaviour, no locking: SQLite is enough (the ledger and invoice tests run on both).
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
async def test_aging_revenue_and_forecast_match_the_invoices(settings):
    async with run_service("finance", settings) as svc:
        h = svc.auth("finance")
        today = datetime.now(UTC).date()
        # acc-1: domestic EUR on net_30, 1249.50 of which 249.50 paid; acc-2: USD export, prepaid.
        eur_id, usd_id = new_order_id(), new_order_id()
        await svc.deliver(cleared(eur_id, payment_terms="net_30"))
        usd = cleared(usd_id, currency="USD", buyer="US")
        await svc.deliver(usd.model_copy(update={"order": usd.order.model_copy(update={"account_id": "acc-2"})}))
        eur = await wait_invoice(svc, eur_id, kind="proforma")
        usd_inv = await wait_invoice(svc, usd_id, kind="proforma")
        assert (await pay(svc, eur["id"], "249.50", "EUR")).status_code == 201
        usd_base = D(usd_inv["total_base"]["amount"])

        r = await svc.client.get(f"{API}/aging", params={"at": today.isoformat()}, headers=h)
        assert r.status_code == 200, r.text
        aging = r.json()
        assert aging["buckets"] == ["current", "1-30", "31-60", "61-90", "90+"]
        by_account = {a["account_id"]: a["amounts"] for a in aging["accounts"]}
        assert by_account["acc-1"]["current"] == {"amount": "1000.00", "currency": "EUR"}
        assert D(by_account["acc-2"]["current"]["amount"]) == usd_base
        assert D(aging["totals"]["current"]["amount"]) == D("1000.00") + usd_base

        later = (today + timedelta(days=45)).isoformat()
        aging = (await svc.client.get(f"{API}/aging", params={"at": later}, headers=h)).json()
        by_account = {a["account_id"]: a["amounts"] for a in aging["accounts"]}
        assert by_account["acc-1"]["1-30"]["amount"] == "1000.00"  # due in 30 days: 15 days late
        assert D(by_account["acc-2"]["31-60"]["amount"]) == usd_base  # prepaid: due on issue
        assert by_account["acc-1"]["current"]["amount"] == "0.00"
        before = (today - timedelta(days=1)).isoformat()
        assert (await svc.client.get(f"{API}/aging", params={"at": before}, headers=h)).json()["accounts"] == []

        usd_subtotal_base = (D(usd_inv["subtotal"]["amount"]) * D(usd_inv["fx_rate"])).quantize(D("0.01"))
        revenue = (await svc.client.get(f"{API}/revenue", params={"group_by": "currency"}, headers=h)).json()
        rows = {row["key"]: D(row["revenue"]["amount"]) for row in revenue["items"]}
        assert rows["EUR"] == D("1050.00") and rows["USD"] == usd_subtotal_base
        revenue = (await svc.client.get(f"{API}/revenue", params={"group_by": "country"}, headers=h)).json()
        assert {row["key"] for row in revenue["items"]} == {"DE", "US"}
        params = {"group_by": "month", "from": today.isoformat(), "to": today.isoformat()}
        revenue = (await svc.client.get(f"{API}/revenue", params=params, headers=h)).json()
        assert revenue["items"] == [
            {"key": f"{today:%Y-%m}", "revenue": {"amount": str(D("1050.00") + usd_subtotal_base), "currency": "EUR"}}
        ]

        forecast = (await svc.client.get(f"{API}/cash-forecast", params={"weeks": 12}, headers=h)).json()["items"]
        assert len(forecast) == 12
        monday = today - timedelta(days=today.weekday())
        assert forecast[0]["week_start"] == monday.isoformat()
        assert D(forecast[0]["receipts"]["amount"]) == usd_base
        due_week = ((today + timedelta(days=30)) - monday).days // 7
        assert forecast[due_week]["receipts"]["amount"] == "1000.00"
        assert sum(D(w["receipts"]["amount"]) for w in forecast) == D("1000.00") + usd_base
        assert all(w["payments"]["amount"] == "0.00" for w in forecast)

        # Bad input: problem+json naming the field.
        bad = [
            ("revenue", {"from": "2026-02-01", "to": "2026-01-01"}, "query.from"),
            ("revenue", {"from": "2015-01-01", "to": "2026-01-01"}, "query.to"),
            ("revenue", {"group_by": "year"}, "query.group_by"),
            ("cash-forecast", {"weeks": 0}, "query.weeks"),
            ("aging", {"at": "soon"}, "query.at"),
        ]
        for path, params, field in bad:
            assert_problem(await svc.client.get(f"{API}/{path}", params=params, headers=h), 422, field)
        assert (await svc.client.get(f"{API}/aging", headers=svc.auth("sales"))).status_code == 403


@SQLITE_ONLY
async def test_journal_csv_and_quickbooks_iif_parse_back_and_every_transaction_balances(settings):
    import csv
    import io
    from collections import defaultdict

    async with run_service("finance", settings) as svc:
        h = svc.auth("finance")
        today = datetime.now(UTC).date().isoformat()
        order_id = new_order_id()
        await svc.deliver(cleared(order_id, currency="USD", buyer="US", incoterm="DDP"))
        inv = await wait_invoice(svc, order_id, kind="proforma")
        assert (await pay(svc, inv["id"], "65.75", "USD")).status_code == 201
        entries = (await svc.client.get("/api/v1/finance/ledger/entries", headers=h)).json()["items"]
        assert len(entries) == 2

        r = await svc.client.get(f"{API.replace('reports', 'exports')}/journal.csv", params={"from": today}, headers=h)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        sums: dict[str, list[Decimal]] = defaultdict(lambda: [D(0), D(0)])
        for row in rows:
            sums[row["entry_id"]][0] += D(row["debit"])
            sums[row["entry_id"]][1] += D(row["credit"])
        assert set(sums) == {e["id"] for e in entries}
        assert all(debit == credit > 0 for debit, credit in sums.values())
        assert {row["account"] for row in rows} >= {"1400", "8400", "1780", "1200"}

        r = await svc.client.get(f"{API.replace('reports', 'exports')}/quickbooks.iif", headers=h)
        assert r.status_code == 200
        lines = [line.split("\t") for line in r.text.splitlines()]
        assert ["!TRNS", "!SPL", "!ENDTRNS"] == [ln[0] for ln in lines if ln[0] in ("!TRNS", "!SPL", "!ENDTRNS")]
        header = next(ln for ln in lines if ln[0] == "!TRNS")
        accounts = {ln[1] for ln in lines if ln[0] == "ACCNT"}
        transactions, current = [], None
        for ln in lines:
            if ln[0] == "TRNS":
                current = [ln]
            elif ln[0] == "SPL":
                current.append(ln)
            elif ln[0] == "ENDTRNS":
                transactions.append(current)
                current = None
        assert len(transactions) == 2
        for trns in transactions:
            record = [dict(zip(header[1:], ln[1:], strict=False)) for ln in trns]
            assert sum(D(x["AMOUNT"]) for x in record) == 0
            assert all(x["ACCNT"] in accounts for x in record)
            assert record[0]["DATE"] == datetime.now(UTC).strftime("%m/%d/%Y")

        exports = f"{API.replace('reports', 'exports')}"
        for path in ("journal.csv", "quickbooks.iif"):
            bad = {"from": "2026-03-01", "to": "2026-01-01"}
            assert_problem(await svc.client.get(f"{exports}/{path}", params=bad, headers=h), 422, "query.from")
            bad = {"from": "2001-01-01", "to": "2026-01-01"}
            assert_problem(await svc.client.get(f"{exports}/{path}", params=bad, headers=h), 422, "query.to")
