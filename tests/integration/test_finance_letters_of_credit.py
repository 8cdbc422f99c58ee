"""Letters of credit: recorded for an L/C order (event for logistics), settled by presenting documents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.finance.contract import LetterOfCreditRecorded
from tests.integration.test_finance_api import (
    assert_problem,
    cleared,
    finance_events,
    invoices_of,
    new_order_id,
    wait_invoice,
)
from tests.support.service import run_service

API = "/api/v1/finance/letters-of-credit"


# HTTP and event behaviour, no locking: SQLite is enough (the ledger and invoice tests run on both).
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
async def test_letter_of_credit_is_recorded_and_presentation_settles_the_invoice(settings):
    async with run_service("finance", settings) as svc:
        h = svc.auth("finance")
        today = datetime.now(UTC).date()
        order_id, net_id = new_order_id(), new_order_id()
        await svc.deliver(cleared(order_id, currency="USD", buyer="US", payment_terms="letter_of_credit"))
        await svc.deliver(cleared(net_id, payment_terms="net_30"))
        inv = await wait_invoice(svc, order_id, kind="proforma")
        await wait_invoice(svc, net_id, kind="proforma")
        body = {
            "order_id": order_id,
            "issuing_bank": "Bank of Example, New York",
            "amount": inv["total"],
            "expiry_date": (today + timedelta(days=90)).isoformat(),
            "latest_shipment_date": (today + timedelta(days=60)).isoformat(),
        }
        # Bad input: problem+json naming the field, nothing recorded.
        bad = [
            ({"latest_shipment_date": (today + timedelta(days=91)).isoformat()}, 422, "latest_shipment_date"),
            ({"expiry_date": (today - timedelta(days=1)).isoformat()}, 422, "expiry_date"),
            ({"amount": {"amount": "-5.00", "currency": "USD"}}, 422, "amount.amount"),
            ({"amount": {"amount": "5.00", "currency": "EUR"}}, 422, "amount.currency"),
            ({"order_id": "ord-unknown"}, 422, "order_id"),
            ({"order_id": net_id}, 409, "order_id"),
            ({"issuing_bank": " "}, 422, "issuing_bank"),
        ]
        for change, status, field in bad:
            assert_problem(await svc.client.post(API, json={**body, **change}, headers=h), status, field)
        assert (await svc.client.get(API, headers=h)).json()["items"] == []

        r = await svc.client.post(API, json=body, headers=h)
        assert r.status_code == 201, r.text
        credit = r.json()
        assert credit["status"] == "open" and credit["amount"] == inv["total"]
        listed = (await svc.client.get(API, params={"order_id": order_id}, headers=svc.auth("logistics"))).json()
        assert [c["id"] for c in listed["items"]] == [credit["id"]]

        url = f"{API}/{credit['id']}/presentations"
        assert_problem(await svc.client.post(url, json={"documents": []}, headers=h), 422, "documents")
        assert_problem(await svc.client.post(f"{API}/lc_nope/presentations", json={"documents": ["x"]}, headers=h), 404)
        documents = ["commercial_invoice", "bill_of_lading", "certificate_of_origin"]
        r = await svc.client.post(url, json={"documents": documents}, headers=h)
        assert r.status_code == 201, r.text
        settled = r.json()
        assert settled["status"] == "settled" and settled["documents"] == documents and settled["payment_id"]
        [paid] = [i for i in await invoices_of(svc, order_id) if i["kind"] == "proforma"]
        assert paid["status"] == "paid"
        assert_problem(await svc.client.post(url, json={"documents": documents}, headers=h), 409)
        payment = (await svc.client.get(f"/api/v1/finance/payments/{settled['payment_id']}", headers=h)).json()
        assert payment["method"] == "letter_of_credit" and payment["amount"] == inv["total"]

        events = await finance_events(svc, expect=5)  # 2 issued, L/C recorded, payment received, paid
        [recorded] = [
            LetterOfCreditRecorded.model_validate(e.data) for e in events if e.type == LetterOfCreditRecorded.event_type
        ]
        assert recorded.order_id == order_id and str(recorded.amount.amount) == paid["total"]["amount"]
        assert recorded.latest_shipment_date == today + timedelta(days=60)
        assert recorded.letter_of_credit_id == credit["id"]
