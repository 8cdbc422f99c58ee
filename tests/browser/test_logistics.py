"""Stock and shipments in Chromium: stock after a receipt, a shipment's PDFs, its dispatch and delivery."""

from __future__ import annotations

import io

import pypdf
import pytest

from tests.browser.support import Staff
from tests.e2e.flow import Gateway, unique


def test_the_stock_page_shows_a_receipt_and_filters_by_sku_and_warehouse(staff: Staff) -> None:
    async def stocked(api: Gateway) -> tuple[str, str, str]:
        sku, warehouse = await api.stocked_product(0)
        other = unique("WH")
        await api.post("/logistics/warehouses", {"code": other, "name": "Bremen", "country": "DE"})
        await api.receive(sku, warehouse, 7)
        return sku, warehouse, other

    sku, warehouse, other = staff.on_platform(stocked)
    staff.sign_in(*staff.new_user("logistics"))
    page = staff.page
    staff.open("/console/logistics/stock")
    page.get_by_label("SKU").fill(sku)
    page.get_by_label("Warehouse").select_option(warehouse)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(lambda url: f"sku={sku}" in url)
    row = page.locator(f"#stock tr[data-sku='{sku}'][data-warehouse='{warehouse}']")
    row.wait_for()
    assert row.locator("[data-col=on_hand]").inner_text() == "7"
    assert row.locator("[data-col=reserved]").inner_text() == "0"
    assert row.locator("[data-col=available]").inner_text() == "7"
    assert "Centrifugal pump" in row.inner_text()
    staff.assert_accessible()

    # Another warehouse has none of it; an unknown SKU was never received.
    staff.open(f"/console/logistics/stock?sku={sku}&warehouse={other}")
    assert "None in this warehouse" in page.inner_text("#stock")
    staff.open("/console/logistics/stock?sku=NEVER-" + unique("X"))
    assert "Never received" in page.inner_text("#stock")
    staff.open("/console/logistics/stock?sku=bad%20sku!", status=400)


def booked_shipment(staff: Staff) -> tuple[str, dict]:
    """A net-30 order, cleared and booked at once; returns (sku, its shipment) once its documents exist."""

    async def work(api: Gateway) -> tuple[str, dict]:
        sku, _ = await api.stocked_product(5)
        account = await api.account(unique("Lyon Pompes"))
        order = await api.place_order(account, sku, 2)
        [shipment] = await api.eventually(lambda: api.shipments(order["id"]), "logistics books the shipment")
        await api.documents_ready(shipment["id"])
        return sku, shipment

    return staff.on_platform(work)


def test_a_shipment_shows_its_documents_downloads_a_pdf_and_is_walked_to_delivered(staff: Staff) -> None:
    sku, shipment = booked_shipment(staff)
    staff.sign_in(*staff.new_user("logistics"))
    page = staff.page
    staff.open(f"/console/logistics/shipments?order_id={shipment['order_id']}&status=booked")
    page.get_by_role("link", name=shipment["id"]).click()
    page.wait_for_url(f"**/console/logistics/shipments/{shipment['id']}")
    assert page.inner_text("#shipment-status") == "Booked"
    assert shipment["tracking_number"] in page.inner_text("main")
    links = page.locator("main table a[download]")
    assert links.count() >= 1
    staff.assert_accessible()

    with page.expect_download() as download:
        page.get_by_role("link", name="Download Commercial invoice").click()
    content = open(download.value.path(), "rb").read()
    assert content.startswith(b"%PDF")
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(content)).pages)
    assert sku in text

    # Dispatch (the pick-up), then delivery: both change the shipment in the API.
    page.get_by_label("Pick-up location").fill("Hamburg")
    page.get_by_role("button", name="Record the pick-up").click()
    page.wait_for_selector(".flash")
    assert page.inner_text(".flash") == "Milestone Picked up (dispatched) recorded; the shipment is In transit."
    moved = staff.on_platform(lambda api: api.get(f"/logistics/shipments/{shipment['id']}"))
    assert moved["status"] == "in_transit" and moved["dispatched_at"]
    assert [(m["status"], m["location"]) for m in moved["milestones"]] == [("picked_up", "Hamburg")]

    page.get_by_label("Milestone", exact=True).select_option("delivered")
    page.get_by_label("Location", exact=True).fill("Lyon")
    page.get_by_role("button", name="Record the milestone").click()
    page.wait_for_selector(".flash")
    assert "the shipment is Delivered" in page.inner_text(".flash")
    assert page.inner_text("#shipment-status") == "Delivered"
    done = staff.on_platform(lambda api: api.get(f"/logistics/shipments/{shipment['id']}"))
    assert done["status"] == "delivered" and done["delivered_at"]
    assert "Lyon" in page.inner_text("ol.timeline")
    assert page.get_by_role("button", name="Record the milestone").count() == 0, "nothing to add after delivery"


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_shipment_page_passes_axe_and_a_second_pick_up_is_refused_clearly(staff: Staff, language: str) -> None:
    _, shipment = booked_shipment(staff)
    staff.context.add_cookies([{"name": "hanse_lang", "value": language, "domain": "127.0.0.1", "path": "/console"}])
    staff.sign_in()
    staff.open(f"/console/logistics/shipments/{shipment['id']}")
    staff.assert_accessible()
    staff.open(f"/console/logistics/shipments?order_id={shipment['order_id']}")
    staff.assert_accessible()
    staff.open("/console/logistics/stock")
    staff.assert_accessible()


def test_a_pick_up_the_api_refuses_is_shown_and_changes_nothing(staff: Staff) -> None:
    """An order put on hold after booking: logistics refuses the pick-up (409) and the page says why."""

    async def held(api: Gateway) -> dict:
        sku, _ = await api.stocked_product(5)
        company = unique("Rhone Pompes")
        account = await api.account(company)
        order = await api.place_order(account, sku, 1)
        [shipment] = await api.eventually(lambda: api.shipments(order["id"]), "logistics books the shipment")
        await api.post("/compliance/watchlist", {"name": company, "reason": "new intelligence"})
        await api.order_reaches(order["id"], "on_hold")
        return shipment

    shipment = staff.on_platform(held)
    staff.sign_in(*staff.new_user("logistics"))
    page = staff.page
    staff.open(f"/console/logistics/shipments/{shipment['id']}")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Record the pick-up").click()
    assert posted.value.status == 409
    assert page.inner_text("[role=alert]").startswith("The shipment cannot be dispatched yet:")
    assert "held" in page.inner_text("[role=alert]")
    unchanged = staff.on_platform(lambda api: api.get(f"/logistics/shipments/{shipment['id']}"))
    assert unchanged["status"] == "booked" and unchanged["milestones"] == []


def test_unknown_or_malformed_addresses_are_pages_not_crashes(staff: Staff) -> None:
    staff.sign_in()
    staff.open("/console/logistics/shipments/shp_nope", status=404)
    assert "Nothing was found here." in staff.page.inner_text("main")
    staff.open("/console/logistics/shipments/no%3Fsuch", status=400)
    staff.open("/console/logistics/shipments/shp_nope/documents/commercial_invoice", status=404)
    staff.open("/console/logistics/shipments?status=lost", status=400)
    staff.open("/console/procurement/purchase-orders/po_nope", status=404)
    staff.open("/console/procurement/purchase-orders?status=lost", status=400)
    staff.open("/console/compliance/reviews?cursor=!!", status=400)
