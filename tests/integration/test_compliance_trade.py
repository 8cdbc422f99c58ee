"""Compliance export control, licences, required documents and the audit hash chain (real broker and databases)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text

from hanse.events import CloudEvent
from hanse.money import Money
from services.sales.contract import OrderLine, OrderPlaced, OrderTerms
from tests.support.kafka import eventually, read_all
from tests.support.service import run_service

API = "/api/v1/compliance"


def order(
    order_id: str,
    *,
    hs_code: str = "841370",
    destination: str = "FR",
    total: str = "360.00",
    currency: str = "EUR",
    incoterm: str = "DAP",
    mode: str | None = None,
) -> OrderPlaced:
    terms = OrderTerms(
        order_id=order_id,
        quote_id=f"q-{order_id}",
        account_id=f"a-{order_id}",
        company="Nordwind Handel",
        email="buyer@example.com",
        buyer_country=destination,
        destination_country=destination,
        incoterm=incoterm,
        named_place="Somewhere",
        currency=currency,
        payment_terms="prepaid",
        lines=[
            OrderLine(
                sku="PART-1",
                name="Part",
                quantity=1,
                unit_price=Decimal(total),
                hs_code=hs_code,
                origin_country="DE",
                unit_weight_kg=Decimal("1"),
            )
        ],
        subtotal=Money(amount=Decimal(total), currency=currency),
        total=Money(amount=Decimal(total), currency=currency),
        placed_at=datetime(2025, 3, 3, 10, 0, tzinfo=UTC),
        mode=mode,
    )
    return OrderPlaced(order_id=order_id, order=terms)


async def check_of(svc, order_id: str) -> dict | None:
    r = await svc.client.get(f"{API}/checks", params={"order_id": order_id}, headers=svc.auth("compliance"))
    items = r.json()["items"]
    return items[0] if items else None


async def documents(svc, order_id: str) -> list[tuple[str, str]]:
    r = await svc.client.get(f"{API}/orders/{order_id}/required-documents", headers=svc.auth("logistics"))
    assert r.status_code == 200, r.text
    return [d["kind"] for d in r.json()["items"]]


async def test_export_control_holds_until_a_valid_licence_and_documents_follow_the_order(settings):
    async with run_service("compliance", settings) as svc:
        officer = {"Authorization": f"Bearer {svc.token('compliance', subject='officer-eva')}"}
        r = await svc.client.get(f"{API}/export-controls", params={"limit": 200}, headers=officer)
        defaults = r.json()["items"]
        assert len(defaults) >= 10 and all(rule["source"] == "default" for rule in defaults)
        assert any(rule["hs_prefix"] == "8542" and "RU" in rule["destinations"] for rule in defaults)
        r = await svc.client.post(
            f"{API}/export-controls",
            json={"hs_prefix": "8479", "destinations": ["cn", "IN"], "regime": "dual_use", "note": "industrial robots"},
            headers=officer,
        )
        assert r.status_code == 201, r.text
        assert r.json()["destinations"] == ["CN", "IN"] and r.json()["created_by"] == "officer-eva"

        # Bad input: problem+json naming the field, nothing added.
        for body, field in [
            ({"hs_prefix": "84A", "destinations": ["CN"], "regime": "x", "note": "y"}, "hs_prefix"),
            ({"hs_prefix": "8479", "destinations": [], "regime": "x", "note": "y"}, "destinations"),
            ({"hs_prefix": "8479", "destinations": ["China"], "regime": "x", "note": "y"}, "destinations.0"),
            ({"hs_prefix": "8479", "destinations": ["CN"], "regime": "x"}, "note"),
        ]:
            r = await svc.client.post(f"{API}/export-controls", json=body, headers=officer)
            assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
            assert r.json()["field"] == field, r.json()
        r = await svc.client.get(f"{API}/export-controls", params={"limit": 200}, headers=officer)
        assert len(r.json()["items"]) == len(defaults) + 1

        await svc.deliver(order("o-chips", hs_code="8542.31", destination="RU", total="900.00"))
        await svc.deliver(
            order("o-robot", hs_code="847950", destination="IN", total="50000", incoterm="FOB", mode="air")
        )
        await svc.deliver(order("o-plain", destination="FR", total="5000"))
        await svc.deliver(order("o-usd", destination="US", total="1040.00", currency="USD"))

        async def four():
            checks = [await check_of(svc, o) for o in ("o-chips", "o-robot", "o-plain", "o-usd")]
            return checks if all(checks) else None

        chips, robot, plain, usd = await eventually(four)
        assert usd["result"] == "clear"
        assert chips["result"] == "review" and chips["status"] == "open"
        assert chips["reasons"][0] == "export_licence_required" and "8542.31" in chips["reasons"][1]
        assert robot["result"] == "review" and plain["result"] == "clear"
        assert await documents(svc, "o-chips") == ["commercial_invoice", "packing_list", "export_licence"]
        assert await documents(svc, "o-robot") == [
            "commercial_invoice",
            "packing_list",
            "certificate_of_origin",
            "export_declaration",
            "export_licence",
        ]
        assert await documents(svc, "o-plain") == ["commercial_invoice", "packing_list"]  # stays in the EU
        # USD 1,040 is EUR 993.79 at the ECB rate of 3 March 2025 (0.955566): under EUR 1,000, no declaration.
        assert await documents(svc, "o-usd") == ["commercial_invoice", "packing_list"]
        r = await svc.client.get(f"{API}/orders/o-nope/required-documents", headers=officer)
        assert r.status_code == 404 and r.json()["field"] == "order_id"

        # The sea-only Incoterm by air is a finding on record.
        r = await svc.client.get(
            f"{API}/audit", params={"subject_id": "o-robot", "action": "incoterm_checked"}, headers=officer
        )
        (finding,) = r.json()["items"]
        assert finding["details"]["valid"] is False and "sea-only" in finding["details"]["reason"]

        # Licences: unknown order -> 404, bad date -> 422; an expired licence does not clear.
        licence = {"order_id": "o-chips", "number": "DE-AG-1", "authority": "BAFA", "valid_until": "2020-01-01"}
        r = await svc.client.post(f"{API}/licences", json={**licence, "order_id": "o-nope"}, headers=officer)
        assert r.status_code == 404 and r.json()["field"] == "order_id"
        r = await svc.client.post(f"{API}/licences", json={**licence, "valid_until": "soon"}, headers=officer)
        assert r.status_code == 422 and r.json()["field"] == "valid_until"
        r = await svc.client.post(f"{API}/licences", json={**licence, "order_id": "o\x00x"}, headers=officer)
        assert r.status_code == 422 and r.json()["field"] == "order_id"
        r = await svc.client.post(
            f"{API}/export-controls",
            json={"hs_prefix": "84", "destinations": ["*"], "regime": "x", "note": "a\x00b"},
            headers=officer,
        )
        assert r.status_code == 422 and r.json()["field"] == "note", r.text
        r = await svc.client.post(f"{API}/licences", json=licence, headers=officer)
        assert r.status_code == 201 and (r.json()["valid"], r.json()["cleared"]) == (False, False)
        assert (await check_of(svc, "o-chips"))["status"] == "open"
        # An officer's clearance does not replace the licence either.
        r = await svc.client.post(
            f"{API}/checks/{chips['id']}/decision", json={"decision": "clear", "note": "buyer known"}, headers=officer
        )
        assert r.status_code == 200 and r.json()["status"] == "open"
        valid_until = (date.today() + timedelta(days=90)).isoformat()
        r = await svc.client.post(f"{API}/licences", json={**licence, "valid_until": valid_until}, headers=officer)
        assert r.status_code == 201 and (r.json()["valid"], r.json()["cleared"]) == (True, True)
        after = await check_of(svc, "o-chips")
        assert (after["status"], after["result"]) == ("decided", "clear")

        # 4 orders: screening + documents + verdict each (12); the officer's clear (1); licence recorded,
        # screening and cleared (3).
        records = await read_all(svc.settings.kafka_bootstrap_servers, svc.settings.topic("compliance"), expect=16)
    events = [CloudEvent.from_json(r.value) for r in records]
    assert len(events) == 16, [(e.type, e.subject) for e in events]
    chips_events = [e.type for e in events if e.subject == "o-chips"]
    assert chips_events == [
        "compliance.screening.completed.v1",
        "compliance.documents.required.v1",
        "compliance.order.held.v1",
        "compliance.screening.completed.v1",
        "compliance.licence.recorded.v1",
        "compliance.screening.completed.v1",
        "compliance.order.cleared.v1",
    ]
    held = next(e for e in events if e.type == "compliance.order.held.v1" and e.subject == "o-chips")
    assert "export_licence_required" in held.data["reasons"]
    plain_events = [e.type for e in events if e.subject == "o-plain"]
    assert plain_events.index("compliance.documents.required.v1") < plain_events.index("compliance.order.cleared.v1")


async def test_audit_verify_names_the_first_changed_entry(settings):
    async with run_service("compliance", settings) as svc:
        officer = svc.auth("compliance")
        for name in ("Alpha Handel", "Beta Handel", "Gamma Handel"):
            r = await svc.client.post(f"{API}/watchlist", json={"name": name, "reason": "test"}, headers=officer)
            assert r.status_code == 201
        r = await svc.client.get(f"{API}/audit/verify", headers=officer)
        assert r.status_code == 200
        intact = r.json()
        assert intact["intact"] is True and intact["entries"] >= 5 and intact.get("first_broken") is None
        r = await svc.client.get(f"{API}/audit", params={"action": "watchlist_added"}, headers=officer)
        second = r.json()["items"][1]
        assert second["details"]["name"] == "Beta Handel"

        # Someone edits a row behind the service's back.
        async with svc.runtime.db.session() as session:
            await session.execute(text("UPDATE audit_record SET actor = 'nobody' WHERE id = :id"), {"id": second["id"]})
            await session.commit()
        r = await svc.client.get(f"{API}/audit/verify", headers=officer)
        broken = r.json()
        assert broken["intact"] is False and broken["first_broken"] == second["id"]
        assert broken["first_broken_seq"] == second["seq"]
        r = await svc.client.get(f"{API}/audit/verify", headers=svc.auth("sales"))
        assert r.status_code == 403
