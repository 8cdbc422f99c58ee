"""GDPR: finance answers access and erasure requests, retaining invoices and payments for 10 years."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.compliance.contract import PrivacyRequestOpened
from services.finance.contract import PrivacyAnswered
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

# HTTP and event behaviour, no locking: SQLite is enough (the ledger and invoice tests run on both).
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
async def test_access_exports_and_erasure_pseudonymises_but_keeps_the_records(settings):
    async with run_service("finance", settings) as svc:
        order_id = new_order_id()
        await svc.deliver(cleared(order_id))  # buyer@example.com
        inv = await wait_invoice(svc, order_id, kind="proforma")
        assert (await pay(svc, inv["id"], "100.00", "EUR")).status_code == 201
        due = datetime.now(UTC).date() + timedelta(days=30)
        access = PrivacyRequestOpened(request_id="pr-1", kind="access", email="Buyer@Example.com", due=due)
        erasure = PrivacyRequestOpened(request_id="pr-2", kind="erasure", email="buyer@example.com", due=due)
        first_done = await svc.deliver(access)
        await eventually(lambda: handled(svc, first_done.id))
        done = await svc.deliver(erasure)
        await eventually(lambda: handled(svc, done.id))

        events = await finance_events(svc, expect=4)  # issued, payment received, two answers
        answers = {
            a.request_id: a
            for a in (PrivacyAnswered.model_validate(e.data) for e in events if e.type == PrivacyAnswered.event_type)
        }
        first = answers["pr-1"]
        assert (first.department, first.kind, first.records, first.erased) == ("finance", "access", 2, 0)
        assert [i["number"] for i in first.export["invoices"]] == [inv["number"]]
        assert first.export["payments"][0]["amount"] == {"amount": "100.00", "currency": "EUR"}
        until = datetime.now(UTC).year + 10
        assert {r.until.isoformat() for r in first.retained} == {f"{until}-12-31"}
        assert all("10 years" in r.why for r in first.retained)

        second = answers["pr-2"]
        assert (second.records, second.erased, second.pseudonymised, second.export) == (2, 0, 1, {})
        [kept] = await invoices_of(svc, order_id)
        assert kept["number"] == inv["number"] and kept["buyer_name"] == "Acme"  # the invoice stays
        assert kept["buyer_email"].startswith("erased-") and kept["buyer_email"].endswith("@invalid")
