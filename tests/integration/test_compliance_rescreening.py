"""Re-screening: a watchlist change or a new export-control rule re-screens accounts, suppliers and
orders not yet shipped; new matches hold orders (even cleared ones) and flag parties."""

from __future__ import annotations

from datetime import UTC, datetime

from hanse.events import CloudEvent
from services.logistics.contract import ShipmentDispatched
from services.procurement.contract import SupplierRegistered
from services.sales.contract import AccountCreated, AccountUpdated, InquiryLine, InquiryReceived
from tests.integration.test_compliance_trade import order
from tests.support.kafka import eventually, read_all
from tests.support.service import run_service

API = "/api/v1/compliance"
NAME = "Kestrel Vantor Handelsgesellschaft"


async def checks_by_subject(svc) -> dict[str, dict]:
    r = await svc.client.get(f"{API}/checks", params={"limit": 200}, headers=svc.auth("compliance"))
    return {c["subject_id"]: c for c in r.json()["items"]}


async def test_a_watchlist_change_holds_open_orders_and_flags_parties(settings, monkeypatch):
    monkeypatch.setenv("HANSE_RESCREEN_EVERY_SECONDS", "1")
    async with run_service("compliance", settings) as svc:
        officer = svc.auth("compliance")
        for order_id, dest in (("o-open", "FR"), ("o-gone", "FR"), ("o-rule", "US")):
            placed = order(order_id, destination=dest, hs_code="850440")
            placed.order.__dict__["company"] = NAME  # the buyer: same party on every order
            await svc.deliver(placed, correlation_id=order_id)
        await svc.deliver(
            AccountCreated(
                account_id="a-1", company=NAME, country="FR", email="k@example.com", currency="EUR",
                payment_terms="net_30",
            )
        )  # fmt: skip
        await svc.deliver(
            SupplierRegistered(
                supplier_id="s-1", name=f"{NAME} GmbH", country="FR", email="s@example.com", currency="EUR",
                payment_terms="net_30",
            )
        )  # fmt: skip
        await svc.deliver(
            InquiryReceived(
                inquiry_id="i-1", company="Kestrel Vantor Handels", contact_name="Nobody", email="i@example.com",
                country="FR", lines=[InquiryLine(sku="X", quantity=1)],
            )
        )  # fmt: skip

        async def six():
            checks = await checks_by_subject(svc)
            return checks if len(checks) == 6 else None

        before = await eventually(six)
        assert {s: c["result"] for s, c in before.items()} == dict.fromkeys(before, "clear")
        assert before["s-1"]["subject_type"] == "supplier" and before["i-1"]["subject_type"] == "inquiry"
        await svc.deliver(
            ShipmentDispatched(shipment_id="sh-1", order_id="o-gone", at=datetime.now(UTC)), correlation_id="o-gone"
        )

        async def dispatch_recorded():
            # The consumer handles events in order per topic; a later logistics event proves the first.
            from services.compliance.models import OrderDispatch

            async with svc.runtime.db.read_session() as session:
                return await session.get(OrderDispatch, "o-gone")

        await eventually(dispatch_recorded)

        r = await svc.client.post(
            f"{API}/watchlist", json={"name": NAME, "reason": "new intelligence"}, headers=officer
        )
        assert r.status_code == 201

        async def flagged():
            checks = await checks_by_subject(svc)
            return checks if checks["o-open"]["result"] == "review" and checks["s-1"]["result"] == "review" else None

        after = await eventually(flagged, timeout=30)
        assert after["o-open"]["status"] == "open" and after["o-open"]["hold_reasons"] == ["list_match"]
        assert after["o-rule"]["result"] == "review"
        assert after["a-1"]["result"] == "review" and after["a-1"]["matches"][0]["list"] == "watchlist"
        assert after["o-gone"]["result"] == "clear", "a dispatched order is not held any more"
        assert after["i-1"]["result"] == "clear", "inquiries are screened once, like leads"

        # The officer lifts the hold on o-open: cleared again (sales reads it as "hold lifted").
        r = await svc.client.post(
            f"{API}/checks/{after['o-open']['id']}/decision", json={"decision": "clear", "note": "namesake"},
            headers=officer,
        )  # fmt: skip
        assert r.status_code == 200 and r.json()["result"] == "clear"
        # The same match does not hold it again on the next list change; an account update re-screens quietly.
        await svc.deliver(
            AccountUpdated(account_id="a-1", changed=["email"], email="k2@example.com", payment_terms="net_30")
        )

        # A new export-control rule: o-rule (to the US) now needs a licence and an export_licence document.
        r = await svc.client.post(
            f"{API}/export-controls",
            json={"hs_prefix": "8504", "destinations": ["US"], "regime": "dual_use", "note": "test rule"},
            headers=officer,
        )
        assert r.status_code == 201

        async def licence_hold():
            checks = await checks_by_subject(svc)
            return checks["o-rule"] if "export_licence_required" in checks["o-rule"]["hold_reasons"] else None

        rule_hold = await eventually(licence_hold, timeout=30)
        assert rule_hold["hold_reasons"] == ["list_match", "export_licence_required"]
        r = await svc.client.get(f"{API}/orders/o-rule/required-documents", headers=officer)
        assert [d["kind"] for d in r.json()["items"]][-1] == "export_licence"
        assert (await checks_by_subject(svc))["o-open"]["result"] == "clear"

        # 12 first screenings (orders: screening, documents, cleared); the watchlist: 2 per order held
        # and 1 per party flagged (6); the officer's clearance (2); the new rule: documents, screening,
        # held for o-rule (3).
        records = await read_all(svc.settings.kafka_bootstrap_servers, svc.settings.topic("compliance"), expect=23)
    events = [CloudEvent.from_json(r.value) for r in records]
    assert len(events) == 23, [(e.type, e.subject) for e in events]
    o_open = [e.type.removeprefix("compliance.") for e in events if e.subject == "o-open"]
    assert o_open == [
        "screening.completed.v1",
        "documents.required.v1",
        "order.cleared.v1",
        "screening.completed.v1",
        "order.held.v1",
        "screening.completed.v1",
        "order.cleared.v1",
    ]
    supplier = [e.data for e in events if e.subject == "s-1"]
    assert [(d["subject_type"], d["result"]) for d in supplier] == [("supplier", "clear"), ("supplier", "review")]
    o_rule = [e.type.removeprefix("compliance.") for e in events if e.subject == "o-rule"]
    assert o_rule[-3:] == ["documents.required.v1", "screening.completed.v1", "order.held.v1"]
