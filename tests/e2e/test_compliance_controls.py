"""Compliance through the gateway on the real platform: export control held until a licence, a
watchlist change holding a cleared order, a 100,000-entity list import, the audit chain intact."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bench.sanctions import entities_csv
from tests.e2e.conftest import Platform
from tests.e2e.flow import Gateway, unique

pytestmark = pytest.mark.e2e


@pytest.fixture
async def api(platform: Platform) -> AsyncIterator[Gateway]:
    gateway = Gateway(platform)
    yield gateway
    await gateway.close()


async def check_of(api: Gateway, order_id: str) -> dict | None:
    checks = await api.items("/compliance/checks", order_id=order_id)
    return checks[0] if checks else None


async def test_a_controlled_hs_code_is_held_until_a_licence_and_a_watchlist_name_holds_a_cleared_order(api: Gateway):
    sku, _ = await api.stocked_product(10)
    chips = unique("CHIP")
    await api.post(
        "/sales/products",
        {
            "sku": chips,
            "name": "Integrated circuits",
            "hs_code": "8542.31",
            "origin_country": "DE",
            "unit_price": {"amount": "50.00", "currency": "EUR"},
            "unit_weight_kg": "0.1",
        },
    )
    account = await api.account(unique("Baikal Instruments"), country="KZ")
    order = await api.place_order(account, chips, 30, destination="RU", named_place="Moscow")

    async def held():
        check = await check_of(api, order["id"])
        return check if check and check["status"] == "open" else None

    check = await api.eventually(held, "the export-controlled order held")
    assert check["hold_reasons"] == ["export_licence_required"]
    docs = (await api.get(f"/compliance/orders/{order['id']}/required-documents"))["items"]
    assert [d["kind"] for d in docs] == ["commercial_invoice", "packing_list", "export_declaration", "export_licence"]
    await api.order_reaches(order["id"], "on_hold")
    valid_until = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
    licence = {"order_id": order["id"], "number": "BAFA-2026-1", "authority": "BAFA", "valid_until": valid_until}
    recorded = await api.post("/compliance/licences", licence)
    assert recorded["cleared"] is True
    await api.order_reaches(order["id"], "confirmed", "ready_to_ship", "backordered")

    # A cleared order of a buyer who then lands on the watchlist is held again.
    company = unique("Vostok Lumen Trading")
    buyer = await api.account(company)
    cleared = await api.place_order(buyer, sku, 1)
    before = (await api.order_reaches(cleared["id"], "ready_to_ship"))["status"]
    await api.post("/compliance/watchlist", {"name": company, "reason": "new intelligence"})

    async def rescreened():
        check = await check_of(api, cleared["id"])
        return check if check["result"] == "review" else None

    started = time.monotonic()
    check = await api.eventually(rescreened, "the re-screening holding the cleared order", timeout=60)
    assert time.monotonic() - started < 60 and check["hold_reasons"] == ["list_match"]
    # Sales shows the hold after clearance, and the officer's release returns the order where it was.
    held_order = await api.order_reaches(cleared["id"], "on_hold")
    assert [(h["previous_status"], h["status"]) for h in held_order["history"]][-1] == (before, "on_hold")

    # Logistics never dispatches a held order: once it has the hold, the pick-up is refused, naming it.
    async def logistics_holds():
        return (await api.get(f"/logistics/orders/{cleared['id']}"))["held"] or None

    await api.eventually(logistics_holds, "logistics records the hold")
    [shipment] = await api.shipments(cleared["id"])
    pickup = {"status": "picked_up", "location": "Hamburg"}
    refused = await api.call("POST", f"/logistics/shipments/{shipment['id']}/tracking", 409, json=pickup)
    assert "held by compliance" in refused.json()["detail"]
    release = {"decision": "clear", "note": "a namesake: different register number"}
    await api.post(f"/compliance/checks/{check['id']}/decision", release, expect=200)
    released = await api.order_reaches(cleared["id"], before)
    assert [h["status"] for h in released["history"]][-2:] == ["on_hold", before]

    verify = await api.get("/compliance/audit/verify")
    assert verify["intact"] is True and verify["entries"] > 0


async def test_a_100000_entity_list_imports_through_the_gateway_whole(api: Gateway):
    """Every entity of a full-size list arrives; how fast is `make bench`'s (bench/sanctions.py, target < 60 s)."""
    body = entities_csv(100_000, prefix="e2e")
    response = await api.call(
        "POST", "/compliance/sanctions/import", 202, files={"file": ("targets.simple.csv", body, "text/csv")}
    )

    async def completed():
        job = await api.get(f"/compliance/sanctions/imports/{response.json()['id']}")
        return job if job["status"] != "pending" else None

    job = await api.eventually(completed, "the import", timeout=240)
    assert (job["status"], job["entities"], job["rejected"]) == ("completed", 100_000, 0)
