"""Suppliers and purchase orders in Chromium: register a supplier, draft, send, receive and inspect a PO."""

from __future__ import annotations

import pytest

from tests.browser.support import Staff
from tests.e2e.flow import Gateway, unique

SUPPLIERS = "/console/procurement/suppliers"
ORDERS = "/console/procurement/purchase-orders"


def register_supplier(staff: Staff, name: str) -> None:
    page = staff.page
    staff.open(SUPPLIERS)
    form = page.locator("form[action='/console/procurement/suppliers'][method=post]")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Country").fill("DE")
    form.get_by_label("Currency").fill("EUR")
    form.get_by_label("Email").fill("orders@gusswerk.example")
    form.get_by_label("Lead time (days)").fill("12")
    form.get_by_label("Payment terms").select_option("net_30")
    form.get_by_role("button", name="Register the supplier").click()


def test_a_supplier_and_a_purchase_order_from_draft_to_stock(staff: Staff) -> None:
    async def warehouse(api: Gateway) -> str:
        code = unique("WH")
        await api.post("/logistics/warehouses", {"code": code, "name": "Hamburg", "country": "DE"})
        return code

    code = staff.on_platform(warehouse)
    sku = unique("VALVE")
    name = unique("Gusswerk")
    staff.sign_in()
    page = staff.page

    # A supplier: a refused address is shown next to its field; then it is registered.
    register_supplier(staff, name)
    page.wait_for_selector(".flash")
    assert "Supplier " + name + " registered" in page.inner_text(".flash")

    async def approved(api: Gateway) -> dict:
        async def found() -> dict | None:
            items = [
                s for s in await api.items("/procurement/suppliers", limit=200, status="approved") if s["name"] == name
            ]
            return items[0] if items else None

        return await api.eventually(found, "compliance approves the supplier", timeout=60)

    supplier = staff.on_platform(approved)

    # A purchase order drafted in the browser.
    staff.open(ORDERS)
    form = page.locator("form[action='/console/procurement/purchase-orders'][method=post]")
    form.get_by_label("Supplier").select_option(supplier["id"])
    form.get_by_label("Warehouse").fill(code)
    form.get_by_label("Incoterm").select_option("DAP")
    form.get_by_label("SKU of line 1").fill(sku)
    form.get_by_label("Quantity of line 1").fill("10")
    form.get_by_label("Unit price of line 1").fill("12.50")
    form.get_by_role("button", name="Draft the purchase order").click()
    page.wait_for_selector(".flash")
    assert "drafted" in page.inner_text(".flash")
    assert page.inner_text("#order-status") == "Draft"
    po_id = page.url.rsplit("/", 1)[1]
    staff.assert_accessible()

    page.get_by_role("button", name="Send the purchase order").click()
    page.wait_for_selector(".flash")
    assert page.inner_text("#order-status") == "Sent"

    # More than ordered is refused next to the field; then the 10 units arrive.
    page.get_by_label(f"Units of {sku} arrived").fill("11")
    page.get_by_role("button", name="Record the receipt").click()
    page.wait_for_selector(".field.invalid .error")
    assert page.get_by_label(f"Units of {sku} arrived").get_attribute("aria-invalid") == "true"
    assert staff.on_platform(lambda api: api.get(f"/procurement/purchase-orders/{po_id}"))["lines"][0]["received"] == 0
    page.get_by_label(f"Units of {sku} arrived").fill("10")
    page.get_by_role("button", name="Record the receipt").click()
    page.wait_for_selector(".flash")
    assert "quality control" in page.inner_text(".flash")
    staff.assert_accessible()

    # QC: 8 accepted, 2 rejected.
    page.get_by_label("Accepted").fill("8")
    page.get_by_label("Rejected").fill("2")
    page.get_by_label("Notes").fill("two cracked housings")
    page.get_by_role("button", name="Record the inspection").click()
    page.wait_for_selector(".flash")
    assert "Inspection recorded" in page.inner_text(".flash")
    line = page.locator(f"tr[data-sku='{sku}']").first.inner_text()
    assert "8" in line and "2" in line

    order = staff.on_platform(lambda api: api.get(f"/procurement/purchase-orders/{po_id}"))
    assert order["status"] in ("received", "closed")
    assert [(x["sku"], x["received"], x["accepted"], x["rejected"]) for x in order["lines"]] == [(sku, 10, 8, 2)]

    async def in_stock(api: Gateway) -> dict:
        async def counted() -> dict | None:
            response = await api.call("GET", f"/logistics/stock/{sku}")
            return response.json() if response.status_code == 200 else None

        return await api.eventually(counted, "the accepted units enter logistics' stock")

    stock = staff.on_platform(in_stock)
    assert (stock["on_hand"], stock["available"]) == (8, 8)

    # The list finds it by SKU.
    staff.open(f"{ORDERS}?sku={sku}")
    assert order["number"] in page.inner_text("#purchase-orders")


def test_a_refused_supplier_form_shows_the_message_next_to_the_field(staff: Staff) -> None:
    staff.sign_in()
    page = staff.page
    staff.open(SUPPLIERS)
    form = page.locator("form[action='/console/procurement/suppliers'][method=post]")
    name = unique("Nirgendwo")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Country").fill("XX")
    form.get_by_label("Currency").fill("EUR")
    form.get_by_label("Email").fill("a@b.example")
    form.get_by_label("Lead time (days)").fill("5")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        form.get_by_role("button", name="Register the supplier").click()
    assert posted.value.status == 422
    form = page.locator("form[action='/console/procurement/suppliers'][method=post]")
    assert form.get_by_label("Country").get_attribute("aria-invalid") == "true"
    assert form.get_by_label("Name").input_value() == name
    staff.assert_accessible()
    listed = staff.on_platform(lambda api: api.items("/procurement/suppliers", limit=200))
    assert name not in [s["name"] for s in listed]


@pytest.mark.parametrize("language", ["en", "de"])
def test_procurement_pages_pass_axe(staff: Staff, language: str) -> None:
    async def draft(api: Gateway) -> str:
        body = {
            "name": unique("Axe Werk"),
            "country": "DE",
            "currency": "EUR",
            "email": "orders@axe.example",
            "lead_time_days": 3,
            "payment_terms": "net_30",
        }
        found = await api.post("/procurement/suppliers", body)
        po = {
            "supplier_id": found["id"],
            "warehouse": "HAM",
            "currency": "EUR",
            "incoterm": "DAP",
            "lines": [{"sku": unique("AXE"), "quantity": 3, "unit_price": {"amount": "5.00", "currency": "EUR"}}],
        }
        return (await api.post("/procurement/purchase-orders", po))["id"]

    po_id = staff.on_platform(draft)
    staff.context.add_cookies([{"name": "hanse_lang", "value": language, "domain": "127.0.0.1", "path": "/console"}])
    staff.sign_in()
    for path in (SUPPLIERS, ORDERS, f"{ORDERS}/{po_id}"):
        staff.open(path)
        staff.assert_accessible()
