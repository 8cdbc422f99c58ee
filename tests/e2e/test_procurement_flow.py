"""Procurement in the whole platform, through the gateway: back-orders raise purchase orders (issue 16)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.conftest import Platform
from tests.e2e.flow import Gateway, unique

pytestmark = pytest.mark.e2e


@pytest.fixture
async def api(platform: Platform) -> AsyncIterator[Gateway]:
    gateway = Gateway(platform)
    yield gateway
    await gateway.close()


async def supplier(api: Gateway, name: str) -> dict:
    body = {
        "name": name,
        "country": "DE",
        "currency": "EUR",
        "email": "orders@supplier.example",
        "lead_time_days": 10,
        "payment_terms": "net_30",
    }
    created = await api.post("/procurement/suppliers", body)
    assert created["status"] == "pending"
    return created


async def rule_for(api: Gateway, sku: str, warehouse: str, supplier_id: str, **terms: int) -> dict:
    """The reorder rule, once procurement has heard of the warehouse from logistics' stock events."""
    body = {"warehouse": warehouse, "supplier_id": supplier_id, "min_available": 0, "reorder_quantity": 20, **terms}

    async def put():
        response = await api.call("PUT", f"/procurement/reorder-rules/{sku}", json=body)
        return response.json() if response.status_code == 200 else None

    return await api.eventually(put, "the reorder rule to be accepted")


async def drafts_for(api: Gateway, sku: str) -> list[dict]:
    return await api.items("/procurement/purchase-orders", sku=sku)


async def test_a_back_ordered_sales_order_raises_one_draft_purchase_order(api: Gateway):
    sku, warehouse = await api.stocked_product(2)
    found = await supplier(api, unique("Pumpenwerk"))
    price = {"unit_price": {"amount": "40.00", "currency": "EUR"}, "moq": 5}
    await api.call("PUT", f"/procurement/suppliers/{found['id']}/prices/{sku}", 200, json=price)
    await rule_for(api, sku, warehouse, found["id"])

    account = await api.account(unique("Lyon Pompes"))
    first = await api.place_order(account, sku, 10)
    await api.order_reaches(first["id"], "backordered")
    [draft] = await api.eventually(lambda: drafts_for(api, sku), "a draft purchase order")
    assert draft["status"] == "draft" and draft["warehouse"] == warehouse
    assert [(line["sku"], line["quantity"]) for line in draft["lines"]] == [(sku, 20)]
    assert draft["total"] == {"amount": "800.00", "currency": "EUR"}

    # A second back-order of the same SKU while that order is open raises no second one.
    second = await api.place_order(account, sku, 4)
    await api.order_reaches(second["id"], "backordered")
    assert [o["id"] for o in await drafts_for(api, sku)] == [draft["id"]]


async def test_sending_receiving_and_qc_fill_the_back_order_ship_it_and_leave_a_supplier_bill(api: Gateway):
    sku, warehouse = await api.stocked_product(1)
    found = await supplier(api, unique("Gusswerk"))
    approved = await api.eventually(
        lambda: _status(api, found["id"], "approved"), "compliance to approve the supplier", timeout=60
    )
    assert approved
    price = {"unit_price": {"amount": "30.00", "currency": "EUR"}}
    await api.call("PUT", f"/procurement/suppliers/{found['id']}/prices/{sku}", 200, json=price)
    await rule_for(api, sku, warehouse, found["id"], reorder_quantity=6)
    account = await api.account(unique("Nantes Pompes"))
    order = await api.place_order(account, sku, 5)
    await api.order_reaches(order["id"], "backordered")
    [po] = await api.eventually(lambda: drafts_for(api, sku), "a draft purchase order")
    await api.call("POST", f"/procurement/purchase-orders/{po['id']}/send", 200)
    receipt = await api.post(
        f"/procurement/purchase-orders/{po['id']}/receipts", {"lines": [{"sku": sku, "quantity": 6}]}
    )
    assert (await api.stock(sku))["on_hand"] == 1, "goods waiting for QC are not stock"
    result = {"lines": [{"sku": sku, "accepted": 5, "rejected": 1, "notes": "cracked housing"}]}
    await api.call("POST", f"/procurement/inspections/{receipt['inspection_id']}/result", 200, json=result)

    await api.order_reaches(order["id"], "confirmed", "ready_to_ship")
    stock = await api.stock(sku)
    assert (stock["on_hand"], stock["reserved"]) == (6, 5)
    bills = await api.eventually(
        lambda: api.items("/finance/bills", purchase_order_id=po["id"]), "finance to record the supplier bill"
    )
    # 5 accepted x 30.00 = 150.00, plus 19 % input VAT: the supplier is German like the seller.
    assert bills[0]["total"] == {"amount": "178.50", "currency": "EUR"} and bills[0]["status"] == "open"


async def test_a_supplier_on_the_watchlist_is_blocked_and_its_purchase_order_refused(api: Gateway):
    name = unique("Schattenhandel")
    await api.post("/compliance/watchlist", {"name": name, "reason": "internal fraud case"})
    found = await supplier(api, name)
    body = {
        "supplier_id": found["id"],
        "warehouse": "ANY",
        "currency": "EUR",
        "incoterm": "FCA",
        "lines": [{"sku": "X-1", "quantity": 1, "unit_price": {"amount": "1.00", "currency": "EUR"}}],
    }
    draft = await api.post("/procurement/purchase-orders", body)

    # A watchlist match goes to an officer: until then the supplier stays pending and gets no order.
    async def in_review():
        checks = await api.items("/compliance/checks", subject_type="supplier", subject_id=found["id"])
        return checks[0] if checks and checks[0]["result"] == "review" else None

    check = await api.eventually(in_review, "compliance to put the supplier in review", timeout=60)
    assert await _status(api, found["id"], "pending")
    held = await api.call("POST", f"/procurement/purchase-orders/{draft['id']}/send", 409)
    assert held.json()["field"] == "supplier_id"

    decision = {"decision": "reject", "note": "fraud case"}
    await api.post(f"/compliance/checks/{check['id']}/decision", decision, expect=200)
    await api.eventually(lambda: _status(api, found["id"], "blocked"), "the rejection to block the supplier")
    refused = await api.call("POST", "/procurement/purchase-orders", 409, json=body)
    assert refused.headers["content-type"] == "application/problem+json" and refused.json()["field"] == "supplier_id"
    resent = await api.call("POST", f"/procurement/purchase-orders/{draft['id']}/send", 409)
    assert resent.json()["field"] == "supplier_id"


async def _status(api: Gateway, supplier_id: str, status: str) -> bool:
    return (await api.get(f"/procurement/suppliers/{supplier_id}"))["status"] == status
