"""The golden path in the browser, as a newcomer walks it: inquiry → quote → order → paid → dispatched →
delivered and completed, every step a click in the console; the departments do the rest by events."""

from __future__ import annotations

from decimal import Decimal

import httpx
from playwright.sync_api import expect

from tests.browser.support import Staff
from tests.e2e.flow import Gateway, unique


def test_from_inquiry_to_a_delivered_and_completed_order_in_the_browser(staff: Staff) -> None:
    # What exists before the day starts: a stocked product and a prepaid buyer (payment before shipping).
    async def setup(gateway: Gateway) -> tuple[str, str]:
        sku, _ = await gateway.stocked_product(20)
        return sku, await gateway.account(unique("Golden SARL"), payment_terms="prepaid")

    sku, account = staff.on_platform(setup)
    inquiry = httpx.post(
        f"{staff.platform.gateway}/api/v1/sales/inquiries",
        json={
            "company": unique("Golden SARL"),
            "contact_name": "Anne Martin",
            "email": "anne@example.com",
            "country": "FR",
            "lines": [{"sku": sku, "quantity": 3}],
            "incoterm": "FCA",
            "destination_country": "FR",
        },
        timeout=20,
    )
    assert inquiry.status_code == 201, inquiry.text

    staff.sign_in()
    page = staff.page
    # Sales: the inquiry becomes a quote, the quote an order.
    staff.open(f"/console/inquiries/{inquiry.json()['id']}")
    page.click("text=Create a quote from this inquiry")
    page.wait_for_url("**/console/quotes/new?inquiry=*")
    page.fill("#f-account_id", account)
    page.fill("#f-currency", "EUR")
    page.fill("#f-named_place", "Hamburg")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/console/quotes/quo*")
    page.click("form[action$='/accept'] button")
    page.wait_for_url("**/console/orders/*")
    order_id = page.url.rsplit("/", 1)[-1]

    # Compliance clears it and finance issues the proforma by themselves; the 360 shows the invoice.
    proforma = page.locator("a[href^='/console/finance/invoices/'][href$='.pdf']").first
    expect(proforma).to_be_visible(timeout=45_000)
    invoice_id = proforma.get_attribute("href").removeprefix("/console/finance/invoices/").removesuffix(".pdf")

    # Finance: the bank transfer arrives and is recorded on the invoice's page.
    staff.open(f"/console/finance/invoices/{invoice_id}")
    total = Decimal(page.input_value("#f-amount"))  # prefilled with the open amount
    assert total > 0
    page.fill("#f-reference", "TRF-GOLDEN-1")
    page.click("button:has-text('Record payment')")
    page.wait_for_selector("text=The payment was recorded.")
    assert page.inner_text("#invoice-status") == "Paid"

    # Logistics books the shipment once paid, and its papers follow; then it is dispatched and delivered.
    async def booked(gateway: Gateway) -> dict:
        [shipment] = await gateway.eventually(lambda: gateway.shipments(order_id), "logistics books the shipment")
        await gateway.documents_ready(shipment["id"])
        return shipment

    shipment = staff.on_platform(booked)
    staff.open(f"/console/logistics/shipments/{shipment['id']}")
    page.get_by_label("Pick-up location").fill("Hamburg")
    page.get_by_role("button", name="Record the pick-up").click()
    page.wait_for_selector(".flash")
    page.get_by_label("Milestone", exact=True).select_option("delivered")
    page.get_by_label("Location", exact=True).fill("Lyon")
    page.get_by_role("button", name="Record the milestone").click()
    page.wait_for_selector(".flash")
    assert page.inner_text("#shipment-status") == "Delivered"

    # Sales sees the order completed (delivered and paid), and the 360's timeline holds every step.
    async def completed(gateway: Gateway) -> dict:
        return await gateway.order_reaches(order_id, "completed")

    assert staff.on_platform(completed)["status"] == "completed"
    staff.open(f"/console/orders/{order_id}")
    # The gateway's timeline may trail the departments by a moment: the live stream adds what is late.
    expect(page.locator("#timeline li[data-type='logistics.shipment.delivered.v1']")).to_have_count(1, timeout=30_000)
    types = set(page.locator("#timeline li").evaluate_all("items => items.map(li => li.dataset.type)"))
    assert {
        "sales.order.placed.v1",
        "compliance.order.cleared.v1",
        "finance.invoice.issued.v1",
        "finance.invoice.paid.v1",
        "logistics.shipment.booked.v1",
    } <= types, types
    staff.assert_accessible()
