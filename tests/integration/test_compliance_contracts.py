"""Contracts: the review workflow, expiry by the scheduler's job, the expiring list and the events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hanse.events import CloudEvent
from hanse.uow import UnitOfWork
from services.compliance.domain.contracts import expire_contracts
from tests.support.kafka import read_all
from tests.support.service import run_service

API = "/api/v1/compliance"


async def test_contract_workflow_expiry_and_bad_input(settings):
    today = datetime.now(UTC).date()
    frame = {
        "party_type": "account",
        "party_id": "acc-1",
        "kind": "sales_frame",
        "title": "Frame agreement 2026",
        "effective_from": today.isoformat(),
        "expires_on": (today + timedelta(days=20)).isoformat(),
        "terms": {"incoterm": "fca", "payment_terms": "net_30", "governing_law": "German law"},
    }
    async with run_service("compliance", settings) as svc:
        officer, sales = svc.auth("compliance"), svc.auth("sales")
        c = svc.client
        for change, field in [
            ({"expires_on": (today - timedelta(days=1)).isoformat()}, "expires_on"),
            ({"terms": {"incoterm": "FOO"}}, "terms.incoterm"),
            ({"terms": {"payment_terms": "net_90"}}, "terms.payment_terms"),
            ({"party_type": "lead"}, "party_type"),
            ({"kind": "loan"}, "kind"),
            ({"effective_from": "soon"}, "effective_from"),
            ({"title": " "}, "title"),
        ]:
            r = await c.post(f"{API}/contracts", json={**frame, **change}, headers=officer)
            assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
            assert r.json()["field"] == field, (change, r.json())
        assert (await c.post(f"{API}/contracts", json=frame, headers=sales)).status_code == 403
        assert (await c.get(f"{API}/contracts", headers=officer)).json()["items"] == []

        r = await c.post(f"{API}/contracts", json=frame, headers=officer)
        assert r.status_code == 201, r.text
        contract = r.json()
        assert contract["status"] == "draft" and contract["terms"]["incoterm"] == "FCA"
        cid = contract["id"]
        r = await c.post(f"{API}/contracts/{cid}/status", json={"status": "active"}, headers=officer)
        assert r.status_code == 409 and r.json()["field"] == "status"
        r = await c.post(f"{API}/contracts/{cid}/status", json={"status": "expired"}, headers=officer)
        assert r.status_code == 422 and r.json()["field"] == "status"
        r = await c.post(f"{API}/contracts/ctr_nope/status", json={"status": "active"}, headers=officer)
        assert r.status_code == 404 and r.json()["field"] == "contract_id"
        for status in ("under_review", "active"):
            r = await c.post(f"{API}/contracts/{cid}/status", json={"status": status}, headers=officer)
            assert r.status_code == 200 and r.json()["status"] == status

        old = {**frame, "party_id": "sup-1", "party_type": "supplier", "kind": "supply"}
        old |= {"effective_from": "2020-01-01", "expires_on": "2020-12-31"}
        r = await c.post(f"{API}/contracts", json=old, headers=officer)
        expired_id = r.json()["id"]
        r = await c.get(f"{API}/contracts", params={"expiring_within_days": 30}, headers=sales)
        assert [x["id"] for x in r.json()["items"]] == [cid]
        r = await c.get(f"{API}/contracts", params={"expiring_within_days": 10}, headers=sales)
        assert r.json()["items"] == []
        r = await c.get(f"{API}/contracts", params={"expiring_within_days": -1}, headers=sales)
        assert r.status_code == 422 and r.json()["field"] == "query.expiring_within_days"

        async with svc.runtime.db.session() as session:
            assert await expire_contracts(UnitOfWork(session, svc.settings, svc.runtime.config)) == 1
            await session.commit()
        r = await c.get(f"{API}/contracts/{expired_id}", headers=officer)
        assert r.json()["status"] == "expired"
        r = await c.post(f"{API}/contracts/{expired_id}/status", json={"status": "under_review"}, headers=officer)
        assert r.status_code == 409

        records = await read_all(svc.settings.kafka_bootstrap_servers, svc.settings.topic("compliance"), expect=5)
    events = [CloudEvent.from_json(r.value).data for r in records]
    # Ordered per contract (the event key); the two contracts' events may interleave.
    assert [(e["previous_status"], e["status"]) for e in events if e["contract_id"] == cid] == [
        (None, "draft"),
        ("draft", "under_review"),
        ("under_review", "active"),
    ]
    assert [(e["previous_status"], e["status"]) for e in events if e["contract_id"] == expired_id] == [
        (None, "draft"),
        ("draft", "expired"),
    ]
    events = [e for e in events if e["contract_id"] == cid]
    assert events[2]["terms"] == {"incoterm": "FCA", "payment_terms": "net_30", "governing_law": "German law"}
    assert events[2]["kind"] == "sales_frame" and events[2]["party_id"] == "acc-1"
