"""GDPR requests: opened as an event, answered by every department and the gateway, completed with a proof."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from gateway.contract import PrivacyAnswered as GatewayAnswered
from hanse.events import CloudEvent
from hanse.privacy import Retained
from services.compliance.domain.privacy import proof_of
from services.finance.contract import PrivacyAnswered as FinanceAnswered
from services.logistics.contract import PrivacyAnswered as LogisticsAnswered
from services.marketing.contract import PrivacyAnswered as MarketingAnswered
from services.procurement.contract import PrivacyAnswered as ProcurementAnswered
from services.sales.contract import PrivacyAnswered as SalesAnswered
from tests.integration.test_compliance_trade import order
from tests.support.kafka import eventually, read_all
from tests.support.service import run_service

API = "/api/v1/compliance"
OTHERS = {
    "marketing": MarketingAnswered,
    "sales": SalesAnswered,
    "finance": FinanceAnswered,
    "logistics": LogisticsAnswered,
    "procurement": ProcurementAnswered,
    "gateway": GatewayAnswered,
}


def test_the_proof_is_a_hash_over_the_answers_in_department_order():
    answers = {"sales": {"records": 2}, "compliance": {"records": 1}}
    expected = hashlib.sha256(b'[{"records":1},{"records":2}]').hexdigest()
    assert proof_of(answers) == expected
    assert proof_of({**answers, "sales": {"records": 3}}) != expected


async def test_erasure_and_access_requests_complete_when_every_department_answered(settings):
    async with run_service("compliance", settings) as svc:
        officer = svc.auth("compliance")
        c = svc.client
        await svc.deliver(order("o-person"), correlation_id="o-person")  # email buyer@example.com

        async def screened():
            r = await c.get(f"{API}/checks", params={"order_id": "o-person"}, headers=officer)
            return r.json()["items"]

        await eventually(screened)

        for body, field in [
            ({"kind": "erasure", "email": "not-an-address"}, "email"),
            ({"kind": "erasure", "email": "a@b@c"}, "email"),
            ({"kind": "forget", "email": "buyer@example.com"}, "kind"),
            ({"kind": "access"}, "email"),
        ]:
            r = await c.post(f"{API}/privacy-requests", json=body, headers=officer)
            assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
            assert r.json()["field"] == field, r.json()
        r = await c.get(f"{API}/audit", params={"action": "privacy_request_opened"}, headers=officer)
        assert r.json()["items"] == [], "a refused request changes nothing"
        assert (await c.get(f"{API}/privacy-requests/prq_nope", headers=officer)).status_code == 404

        r = await c.post(
            f"{API}/privacy-requests", json={"kind": "access", "email": "Buyer@Example.com"}, headers=officer
        )
        assert r.status_code == 202, r.text
        access_id = r.json()["id"]
        r = await c.post(
            f"{API}/privacy-requests", json={"kind": "erasure", "email": "buyer@example.com"}, headers=officer
        )
        assert r.status_code == 202
        erasure = r.json()
        assert erasure["status"] == "open"
        assert erasure["due"] == (datetime.now(UTC) + timedelta(days=30)).date().isoformat()

        progress = (await c.get(f"{API}/privacy-requests/{erasure['id']}", headers=officer)).json()
        assert progress["departments"]["compliance"]["status"] == "answered"
        assert progress["departments"]["compliance"]["pseudonymised"] == 1
        assert "5 years" in progress["departments"]["compliance"]["retained"][0]["why"]
        assert {d for d, a in progress["departments"].items() if a["status"] == "pending"} == set(OTHERS)
        # The access request (opened first) saw the screening with the address; the erasure then
        # dropped that copy of the person's data (and counted it as erased).
        assert progress["departments"]["compliance"]["erased"] == 1
        export = (await c.get(f"{API}/privacy-requests/{access_id}/export", headers=officer)).json()
        assert export["departments"]["compliance"] == {}

        for request_id, kind in ((access_id, "access"), (erasure["id"], "erasure")):
            for department, answered in OTHERS.items():
                retained = [Retained(what="2 invoices", why="§147 AO: 10 years")] if department == "finance" else []
                answer = answered(
                    request_id=request_id,
                    kind=kind,
                    department=department,
                    records=2,
                    erased=1 if kind == "erasure" else 0,
                    retained=retained,
                    export={"rows": [department]} if kind == "access" else {},
                )
                await svc.deliver(answer, correlation_id=request_id)
                await svc.deliver(answer, correlation_id=request_id)  # the same answer again counts once

        async def completed():
            r = await c.get(f"{API}/privacy-requests/{erasure['id']}", headers=officer)
            return r.json() if r.json()["status"] == "completed" else None

        done = await eventually(completed)
        assert len(done["proof"]) == 64
        assert done["departments"]["finance"]["retained"][0]["why"] == "§147 AO: 10 years"
        assert all(a["status"] == "answered" for a in done["departments"].values())

        async def access_done():
            r = await c.get(f"{API}/privacy-requests/{access_id}/export", headers=officer)
            return r.json() if r.json()["status"] == "completed" else None

        export = await eventually(access_done)
        # Answers that reach the access request after the person's erasure keep no export.
        assert export["departments"]["sales"] == {}
        # The screening's address is pseudonymised: a second access request finds nothing.
        r = await c.post(
            f"{API}/privacy-requests", json={"kind": "access", "email": "buyer@example.com"}, headers=officer
        )
        again = (await c.get(f"{API}/privacy-requests/{r.json()['id']}", headers=officer)).json()
        assert again["departments"]["compliance"]["records"] == 0

        # The order (3), three requests opened, two completed.
        records = await read_all(svc.settings.kafka_bootstrap_servers, svc.settings.topic("compliance"), expect=8)
    events = [CloudEvent.from_json(r.value) for r in records]
    opened = [e for e in events if e.type == "compliance.privacy_request.opened.v1"]
    assert {(e.data["kind"], e.data["email"]) for e in opened} == {
        ("access", "Buyer@example.com"),
        ("erasure", "buyer@example.com"),
        ("access", "buyer@example.com"),
    }
    (completed_event,) = [
        e for e in events if e.type == "compliance.privacy_request.completed.v1" and e.subject == erasure["id"]
    ]
    assert completed_event.data["proof"] == done["proof"]
