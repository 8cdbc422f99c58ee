"""Compliance on the real broker and databases: order, lead and account screening and officer decisions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hanse.events import CloudEvent
from hanse.money import Money
from services.marketing.contract import LeadCaptured
from services.sales.contract import AccountCreated, OrderCancelled, OrderLine, OrderPlaced, OrderTerms
from tests.support.kafka import eventually, read_all
from tests.support.service import run_service

API = "/api/v1/compliance"


def order_terms(order_id: str, company: str, *, buyer: str = "FR", destination: str = "FR") -> OrderTerms:
    return OrderTerms(
        order_id=order_id,
        quote_id=f"q-{order_id}",
        account_id=f"a-{order_id}",
        company=company,
        email="buyer@example.com",
        buyer_country=buyer,
        destination_country=destination,
        incoterm="DAP",
        named_place="Lyon",
        currency="EUR",
        payment_terms="prepaid",
        lines=[
            OrderLine(
                sku="PUMP-1",
                name="Pump",
                quantity=3,
                unit_price=Decimal("120.00"),
                hs_code="841370",
                origin_country="DE",
                unit_weight_kg=Decimal("4.5"),
            )
        ],
        subtotal=Money(amount=Decimal("360.00"), currency="EUR"),
        total=Money(amount=Decimal("360.00"), currency="EUR"),
        placed_at=datetime(2025, 3, 1, 10, 0, tzinfo=UTC),
    )


def placed(order_id: str, company: str, **countries: str) -> OrderPlaced:
    return OrderPlaced(order_id=order_id, order=order_terms(order_id, company, **countries))


async def all_checks(svc, **params) -> list[dict]:
    r = await svc.client.get(f"{API}/checks", params={**params, "limit": 200}, headers=svc.auth("compliance"))
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def compliance_events(svc, expect: int) -> list[CloudEvent]:
    records = await read_all(svc.settings.kafka_bootstrap_servers, svc.settings.topic("compliance"), expect=expect)
    return [CloudEvent.from_json(r.value) for r in records]


async def test_orders_are_cleared_rejected_or_held_and_officers_decide(settings):
    async with run_service("compliance", settings) as svc:
        officer = {"Authorization": f"Bearer {svc.token('compliance', subject='officer-anna')}"}
        r = await svc.client.post(
            f"{API}/watchlist",
            json={"name": "Acme Trading GmbH", "country": "FR", "reason": "fraud ring"},
            headers=officer,
        )
        assert r.status_code == 201, r.text
        assert r.json()["created_by"] == "officer-anna" and r.json()["country"] == "FR"

        clear_order = placed("o-clear", "Nordwind Handel GmbH")
        clear_event = await svc.deliver(clear_order, correlation_id="o-clear")
        await svc.deliver(placed("o-clear", "Nordwind Handel GmbH"), correlation_id="o-clear")  # re-published
        await svc.deliver(placed("o-kp", "Nordwind Handel GmbH", destination="KP"), correlation_id="o-kp")
        await svc.deliver(placed("o-held-1", "ACME Trading"), correlation_id="o-held-1")
        await svc.deliver(placed("o-held-2", "Trading Acme Co., Ltd."), correlation_id="o-held-2")
        await svc.deliver(placed("o-held-3", "Acme  Trading"), correlation_id="o-held-3")
        # The cancellation overtakes the order: screened on record, but neither cleared nor held.
        await svc.deliver(OrderCancelled(order_id="o-early", previous_status="placed"), correlation_id="o-early")
        await svc.deliver(placed("o-early", "ACME Trading"), correlation_id="o-early")

        async def six_checks():
            checks = await all_checks(svc, subject_type="order")
            return checks if len(checks) == 6 else None

        checks = {c["order_id"]: c for c in await eventually(six_checks)}
        assert (checks["o-early"]["status"], checks["o-early"]["result"]) == ("closed", "review")
        assert checks["o-clear"]["result"] == "clear" and checks["o-clear"]["status"] == "decided"
        assert checks["o-kp"]["result"] == "blocked"
        assert "destination country KP is under embargo" in checks["o-kp"]["reasons"]
        for held in ("o-held-1", "o-held-2", "o-held-3"):
            assert checks[held]["result"] == "review" and checks[held]["status"] == "open"
            (match,) = checks[held]["matches"]
            assert match["list"] == "watchlist" and match["name"] == "Acme Trading GmbH" and match["score"] >= 88
        r = await svc.client.get(f"{API}/checks", params={"order_id": "o-kp"}, headers=svc.auth("sales"))
        assert [c["result"] for c in r.json()["items"]] == ["blocked"]

        r = await svc.client.get(f"{API}/reviews", headers=officer)
        assert sorted(c["order_id"] for c in r.json()["items"]) == ["o-held-1", "o-held-2", "o-held-3"]
        r = await svc.client.post(
            f"{API}/checks/{checks['o-early']['id']}/decision", json={"decision": "clear", "note": "x"}, headers=officer
        )
        assert r.status_code == 409

        held_1, held_2, held_3 = (checks[f"o-held-{i}"]["id"] for i in (1, 2, 3))
        r = await svc.client.post(
            f"{API}/checks/{held_1}/decision", json={"decision": "clear", "note": "different company"}, headers=officer
        )
        assert r.status_code == 200, r.text
        decided = r.json()
        assert (decided["status"], decided["result"], decided["decision"]) == ("decided", "clear", "clear")
        assert decided["decided_by"] == "officer-anna" and decided["note"] == "different company"
        r = await svc.client.post(
            f"{API}/checks/{held_1}/decision", json={"decision": "reject", "note": "changed my mind"}, headers=officer
        )
        assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
        r = await svc.client.post(
            f"{API}/checks/{checks['o-clear']['id']}/decision",
            json={"decision": "reject", "note": "x"},
            headers=officer,
        )
        assert r.status_code == 409, "an automatic clearance is not a review"
        r = await svc.client.post(
            f"{API}/checks/{held_2}/decision", json={"decision": "reject", "note": "it is them"}, headers=officer
        )
        assert r.status_code == 200 and r.json()["result"] == "blocked"

        # Cancelled while in review: the check leaves the queue and can no longer be decided.
        await svc.deliver(OrderCancelled(order_id="o-held-3", previous_status="on_hold"), correlation_id="o-held-3")

        async def closed():
            r = await svc.client.get(f"{API}/checks/{held_3}", headers=officer)
            return r.json()["status"] == "closed"

        await eventually(closed)
        r = await svc.client.post(
            f"{API}/checks/{held_3}/decision", json={"decision": "clear", "note": "too late"}, headers=officer
        )
        assert r.status_code == 409
        r = await svc.client.get(f"{API}/reviews", headers=officer)
        assert r.json()["items"] == []

        r = await svc.client.get(f"{API}/audit", params={"subject_id": "o-held-1"}, headers=officer)
        trail = r.json()["items"]
        assert [(a["action"], a["actor"]) for a in trail] == [("screened", "system"), ("decided", "officer-anna")]
        assert trail[1]["details"]["note"] == "different company"
        r = await svc.client.get(f"{API}/audit", params={"check_id": held_3}, headers=officer)
        assert [a["action"] for a in r.json()["items"]] == ["screened", "closed"]

        # 5 screenings, the documents of the 4 orders not rejected, cleared + rejected + 3 held, and per
        # officer decision a screening + a verdict.
        events = await compliance_events(svc, expect=18)
    assert len(events) == 18, [(e.type, e.subject) for e in events]
    by = {(e.type, e.subject, e.data.get("decided_by")): e for e in events}

    cleared = by[("compliance.order.cleared.v1", "o-clear", None)]
    assert cleared.data["order"] == clear_order.order.model_dump(mode="json")
    assert cleared.correlationid == "o-clear" and cleared.causationid == clear_event.id
    assert cleared.data["check_id"] == checks["o-clear"]["id"]
    rejected = by[("compliance.order.rejected.v1", "o-kp", None)]
    assert "destination country KP is under embargo" in rejected.data["reasons"] and rejected.correlationid == "o-kp"
    held = by[("compliance.order.held.v1", "o-held-1", None)]
    assert held.data["matches"][0]["name"] == "Acme Trading GmbH"
    assert by[("compliance.screening.completed.v1", "o-held-1", None)].data["result"] == "review"

    officer_cleared = by[("compliance.order.cleared.v1", "o-held-1", "officer-anna")]
    assert officer_cleared.data["order"] == placed("o-held-1", "ACME Trading").order.model_dump(mode="json")
    assert officer_cleared.correlationid == "o-held-1"
    officer_rejected = by[("compliance.order.rejected.v1", "o-held-2", "officer-anna")]
    assert "rejected by a compliance officer: it is them" in officer_rejected.data["reasons"]
    assert by[("compliance.screening.completed.v1", "o-held-2", "officer-anna")].data["result"] == "blocked"
    assert not any(e.subject == "o-held-3" and e.data.get("decided_by") for e in events)
    assert not any(e.subject == "o-early" for e in events)


async def test_leads_and_accounts_are_screened_against_sanctions_and_the_watchlist(settings):
    now = datetime.now(UTC)

    def lead(lead_id: str, company: str, contact: str, country: str) -> LeadCaptured:
        return LeadCaptured(
            lead_id=lead_id,
            company=company,
            contact_name=contact,
            email="x@example.com",
            country=country,
            consent_marketing=False,
            captured_at=now,
        )

    def account(account_id: str, company: str, country: str) -> AccountCreated:
        return AccountCreated(
            account_id=account_id,
            company=company,
            country=country,
            email="x@example.com",
            currency="EUR",
            payment_terms="net_30",
        )

    async with run_service("compliance", settings) as svc:
        officer = {"Authorization": f"Bearer {svc.token('compliance', subject='officer-ben')}"}
        # The fictitious sample is loaded at startup; an import adds an entity to it.
        r = await svc.client.get(f"{API}/sanctions", params={"limit": 200}, headers=officer)
        assert len(r.json()["items"]) == 21
        csv = "id,schema,name,aliases,countries\nq-1,Company,Quillon Testfirma AG,Quillon Test,ch\nq-2,Vessel,Boat,,\n"
        r = await svc.client.post(
            f"{API}/sanctions/import", files={"file": ("targets.simple.csv", csv)}, headers=officer
        )
        assert r.status_code == 202, r.text

        async def imported():
            job = (await svc.client.get(f"{API}/sanctions/imports/{r.json()['id']}", headers=officer)).json()
            return job if job["status"] == "completed" else None

        job = await eventually(imported)
        assert (job["entities"], job["skipped"], job["rejected"]) == (1, 1, 0)

        await svc.deliver(lead("l-clear", "Nordwind Handel GmbH", "Erika Mustermann", "DE"))
        await svc.deliver(lead("l-sanctioned", "Muller Schrodinger Fiktiv Handels", "Hans Beispiel", "de"))
        await svc.deliver(lead("l-person", "Blue Pine Oy", "Lukasz Przykladowski", "PL"))
        await svc.deliver(lead("l-embargo", "Nordwind Handel GmbH", "Erika Mustermann", "CU"))
        await svc.deliver(account("a-alias", "ZFH Fictional Group plc", "GB"))
        await svc.deliver(account("a-imported", "Quillon Testfirma", "CH"))
        await svc.deliver(lead("l" * 300, "Too Long Id Ltd", "Nobody", "DE"))  # can never be stored

        async def six_checks():
            checks = await all_checks(svc)
            return checks if len(checks) == 6 else None

        checks = {c["subject_id"]: c for c in await eventually(six_checks)}
        assert checks["l-clear"]["result"] == "clear" and checks["l-clear"]["subject_type"] == "lead"
        sanctioned = checks["l-sanctioned"]
        assert sanctioned["result"] == "review" and sanctioned["country"] == "DE"
        assert [(m["list"], m["entry_id"]) for m in sanctioned["matches"]] == [("sanctions", "hanse-fict-005")]
        assert sanctioned["matches"][0]["name"] == "Müller-Schrödinger Fiktiv Handels GmbH"
        assert checks["l-person"]["matches"][0]["entry_id"] == "hanse-fict-007"
        assert checks["l-embargo"]["result"] == "blocked"
        assert checks["a-alias"]["subject_type"] == "account" and checks["a-alias"]["result"] == "review"
        assert checks["a-alias"]["matches"][0]["entry_id"] == "hanse-fict-001"
        assert checks["a-imported"]["matches"][0]["entry_id"] == "q-1"

        r = await svc.client.post(
            f"{API}/checks/{sanctioned['id']}/decision",
            json={"decision": "clear", "note": "  a namesake, verified by phone  "},
            headers=officer,
        )
        assert r.status_code == 200 and r.json()["note"] == "a namesake, verified by phone"
        r = await svc.client.post(
            f"{API}/checks/{checks['a-alias']['id']}/decision",
            json={"decision": "reject", "note": "same group"},
            headers=officer,
        )
        assert r.status_code == 200 and r.json()["result"] == "blocked"

        # 6 screenings and 2 decisions, all screening.completed; nothing order-related.
        events = await compliance_events(svc, expect=8)
        (dead,) = await read_all(svc.settings.kafka_bootstrap_servers, svc.settings.dlq_topic("compliance"), expect=1)
        assert dict(dead.headers)["hanse-dlq-reason"] == b"rejected"
    assert {e.type for e in events} == {"compliance.screening.completed.v1"}
    assert len(events) == 8
    by = {(e.subject, e.data["decided_by"]): e.data for e in events}
    assert by[("l-clear", None)]["result"] == "clear" and by[("l-clear", None)]["subject_type"] == "lead"
    assert by[("l-embargo", None)]["result"] == "blocked"
    assert "party country CU is under embargo" in by[("l-embargo", None)]["reasons"]
    assert by[("l-sanctioned", None)]["result"] == "review"
    assert by[("l-sanctioned", "officer-ben")]["result"] == "clear"
    assert by[("l-sanctioned", "officer-ben")]["check_id"] == sanctioned["id"]
    assert by[("a-alias", "officer-ben")]["result"] == "blocked"
    assert by[("a-alias", "officer-ben")]["subject_type"] == "account"
