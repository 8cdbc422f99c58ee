"""Sales in the console: quote → order → the 360 and its live timeline, inquiries, refusals, pages, roles."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.support import Staff
from tests.e2e.flow import Gateway, unique


def api(staff: Staff, path: str, **params) -> dict:
    response = httpx.get(
        f"{staff.platform.gateway}/api/v1{path}",
        params=params,
        headers={"Authorization": f"Bearer {staff.admin_token()}"},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    return response.json()


def buyer_and_product(staff: Staff, *, payment_terms: str = "net_30", moq: int | None = None) -> tuple[str, str]:
    async def work(gateway: Gateway) -> tuple[str, str]:
        sku, _ = await gateway.stocked_product(50)
        if moq:  # a second product with a minimum order quantity
            sku = unique("VALVE")
            await gateway.post(
                "/sales/products",
                {
                    "sku": sku,
                    "name": "Ball valve",
                    "hs_code": "8481.80",
                    "origin_country": "DE",
                    "unit_price": {"amount": "40.00", "currency": "EUR"},
                    "unit_weight_kg": "2.0",
                    "moq": moq,
                },
            )
        account = await gateway.account(unique("Buyer SARL"), payment_terms=payment_terms)
        return account, sku

    return staff.on_platform(work)


def fill_quote(staff: Staff, account: str, sku: str, quantity: int, *, incoterm: str = "FCA") -> None:
    page = staff.page
    page.fill("#f-account_id", account)
    page.fill("#f-currency", "EUR")
    page.select_option("#f-incoterm", incoterm)
    page.fill("#f-named_place", "Hamburg")
    page.fill("#f-destination_country", "FR")
    page.fill("#line-0-sku", sku)
    page.fill("#line-0-quantity", str(quantity))


def test_an_order_is_placed_from_a_quote_made_in_the_browser(staff: Staff) -> None:
    account, sku = buyer_and_product(staff)
    staff.sign_in()
    staff.open("/console/quotes/new")
    fill_quote(staff, account, sku, 3)
    staff.page.click("button[type=submit].primary")
    staff.page.wait_for_url("**/console/quotes/quo*")
    quote_id = staff.page.url.rsplit("/", 1)[-1]
    main = staff.page.inner_text("main")
    assert "The quote was issued." in main and sku in main
    assert staff.page.inner_text("#quote-status") == "issued"
    assert staff.page.inner_text("#quote-total") == "€300.00"  # FCA: no freight; 3 × 100.00
    staff.assert_accessible()

    staff.page.click("form[action$='/accept'] button")
    staff.page.wait_for_url("**/console/orders/*")
    order_id = staff.page.url.rsplit("/", 1)[-1]
    assert "The quote was accepted: the order is placed." in staff.page.inner_text("main")
    assert staff.page.inner_text("h1") == f"Order {order_id}"
    assert staff.page.locator("#order-status").inner_text() in {"placed", "confirmed"}
    lines = staff.page.inner_text("table[aria-label='Order lines']")
    assert sku in lines and "€100.00" in lines and "€300.00" in lines
    order = api(staff, f"/sales/orders/{order_id}")
    assert order["quote_id"] == quote_id and order["account_id"] == account
    assert [(ln["sku"], ln["quantity"]) for ln in order["lines"]] == [(sku, 3)]


def test_the_timeline_grows_and_the_status_follows_without_a_reload(staff: Staff) -> None:
    account, sku = buyer_and_product(staff, payment_terms="prepaid")

    async def placed(gateway: Gateway) -> tuple[str, dict]:
        order = await gateway.place_order(account, sku, 2, incoterm="FCA", named_place="Hamburg")
        await gateway.order_reaches(order["id"], "confirmed")
        proforma = await gateway.eventually(lambda: _proforma(gateway, order["id"]), "the proforma invoice is issued")
        return order["id"], proforma

    order_id, proforma = staff.on_platform(placed)
    staff.sign_in()
    staff.open(f"/console/orders/{order_id}")
    page = staff.page
    assert page.locator("#order-status").inner_text() == "confirmed"
    expect(page.locator("#timeline li[data-type='sales.order.placed.v1']")).to_have_count(1)
    shown = page.locator("#timeline li").count()
    page.evaluate("window.__stillThisPage = true")

    async def pay(gateway: Gateway) -> None:
        await gateway.post(
            "/finance/payments",
            {
                "invoice_id": proforma["id"],
                "amount": proforma["total"],
                "method": "bank_transfer",
                "reference": unique("REF"),
            },
        )

    staff.on_platform(pay)
    expect(page.locator("#timeline li[data-type='finance.payment.received.v1']")).to_have_count(1, timeout=30_000)
    expect(page.locator("#timeline li[data-type='finance.invoice.paid.v1']")).to_have_count(1, timeout=30_000)
    # Paid and prepaid: logistics books the shipment and the order moves on; the status on top follows.
    expect(page.locator("#order-status")).not_to_have_text("confirmed", timeout=30_000)
    assert page.evaluate("window.__stillThisPage === true")
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    # Each event once: the stored list and the live stream meet without a gap or a double.
    seqs = page.locator("#timeline li").evaluate_all("items => items.map(li => li.dataset.seq)")
    assert len(seqs) == len(set(seqs)) and len(seqs) > shown
    stored = [e["seq"] for e in api(staff, f"/orders/{order_id}/overview")["timeline"]]
    assert set(map(int, seqs)) <= set(stored)
    staff.assert_accessible()


async def _proforma(gateway: Gateway, order_id: str) -> dict | None:
    found = [i for i in await gateway.invoices(order_id) if i["kind"] == "proforma"]
    return found[0] if found else None


def test_a_quote_the_api_refuses_shows_why_next_to_the_field_and_makes_nothing(staff: Staff) -> None:
    account, sku = buyer_and_product(staff, moq=10)
    staff.sign_in()
    staff.open("/console/quotes/new")
    fill_quote(staff, account, sku, 4)  # below the minimum order quantity of 10
    staff.page.click("button[type=submit].primary")
    expect(staff.page.locator("#e-line-0-quantity")).to_have_text(f"{sku} has a minimum order quantity of 10")
    assert staff.page.get_attribute("#line-0-quantity", "aria-invalid") == "true"
    assert staff.page.input_value("#line-0-sku") == sku  # the form keeps what was typed
    staff.page.fill("#line-0-sku", "NO-SUCH-SKU-" + uuid.uuid4().hex[:6])
    staff.page.click("button[type=submit].primary")
    expect(staff.page.locator("#e-line-0-sku")).to_contain_text("no product with sku")
    assert api(staff, "/sales/quotes", account_id=account)["items"] == []


def test_an_accept_without_the_forms_token_changes_nothing(staff: Staff) -> None:
    account, sku = buyer_and_product(staff)

    async def quote(gateway: Gateway) -> dict:
        return await gateway.quote(account, sku, 1, incoterm="FCA")

    issued = staff.on_platform(quote)
    staff.sign_in()
    for form in ({}, {"csrf_token": "0" * 64}):
        refused = staff.page.request.post(f"/console/quotes/{issued['id']}/accept", form=form)
        assert refused.status == 403 and "nothing was changed" in refused.text()
    assert api(staff, f"/sales/quotes/{issued['id']}")["status"] == "issued"
    assert api(staff, "/sales/orders", account_id=account)["items"] == []


def test_an_inquiry_becomes_a_quote_and_an_order(staff: Staff) -> None:
    account, sku = buyer_and_product(staff)
    company = unique("Lyon Pumps")
    inquiry = httpx.post(
        f"{staff.platform.gateway}/api/v1/sales/inquiries",
        json={
            "company": company,
            "contact_name": "Marie Curie",
            "email": "marie@example.com",
            "country": "FR",
            "lines": [{"sku": sku, "quantity": 5}],
            "incoterm": "FCA",
            "destination_country": "FR",
            "message": "Five pumps, please.",
        },
        timeout=20,
    )
    assert inquiry.status_code == 201, inquiry.text
    inquiry_id = inquiry.json()["id"]
    staff.sign_in()
    staff.open("/console/inquiries?status=open&limit=200")
    staff.open(f"/console/inquiries/{inquiry_id}")
    assert company in staff.page.inner_text("main") and "Five pumps, please." in staff.page.inner_text("main")
    staff.page.click("text=Create a quote from this inquiry")
    staff.page.wait_for_url("**/console/quotes/new?inquiry=*")
    assert staff.page.input_value("#line-0-sku") == sku and staff.page.input_value("#line-0-quantity") == "5"
    assert staff.page.input_value("#f-destination_country") == "FR"
    staff.page.fill("#f-account_id", account)
    staff.page.fill("#f-currency", "EUR")
    staff.page.fill("#f-named_place", "Hamburg")
    staff.page.click("button[type=submit].primary")
    staff.page.wait_for_url("**/console/quotes/quo*")
    quote_id = staff.page.url.rsplit("/", 1)[-1]
    assert api(staff, f"/sales/inquiries/{inquiry_id}")["status"] == "quoted"
    staff.page.click("form[action$='/accept'] button")
    staff.page.wait_for_url("**/console/orders/*")
    order_id = staff.page.url.rsplit("/", 1)[-1]
    assert api(staff, f"/sales/orders/{order_id}")["quote_id"] == quote_id
    assert api(staff, f"/sales/inquiries/{inquiry_id}")["status"] == "won"
    staff.open(f"/console/inquiries/{inquiry_id}")
    assert staff.page.inner_text("#inquiry-status") == "won"


def test_the_next_page_shows_the_next_orders_and_filters_narrow_them(staff: Staff) -> None:
    account, sku = buyer_and_product(staff)

    async def two_orders(gateway: Gateway) -> list[str]:
        return [(await gateway.place_order(account, sku, 1, incoterm="FCA"))["id"] for _ in range(2)]

    placed = set(staff.on_platform(two_orders))
    staff.sign_in()
    staff.open(f"/console/orders?account={account}&limit=1")
    page = staff.page
    rows = page.locator("#results tbody tr a[href^='/console/orders/']")
    first = rows.first.inner_text()
    page.evaluate("window.__stillThisPage = true")
    page.click("nav.pager a[rel=next]")  # htmx: only the results change
    expect(rows.first).not_to_have_text(first)
    second = rows.first.inner_text()
    assert {first, second} == placed
    assert page.evaluate("window.__stillThisPage === true")
    expect(page.locator("nav.pager a[rel=next]")).to_have_count(0)
    # A plain link works too (no htmx): the same address opened directly.
    staff.open(page.url)
    assert rows.first.inner_text() == second
    # The status filter and the order id search.
    staff.open(f"/console/orders?account={account}&status=cancelled")
    assert "No orders match these filters." in page.inner_text("#results")
    staff.open(f"/console/orders?q={first}")
    assert rows.count() == 1 and rows.first.inner_text() == first
    staff.open("/console/orders?q=ord-does-not-exist")
    assert "There is no order with the id ord-does-not-exist." in page.inner_text("#results")
    staff.open("/console/orders?limit=0", status=400)


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_360_and_a_quote_page_pass_axe(staff: Staff, language: str) -> None:
    account, sku = buyer_and_product(staff)

    async def order(gateway: Gateway) -> dict:
        return await gateway.place_order(account, sku, 1, incoterm="FCA")

    placed = staff.on_platform(order)
    staff.context.add_cookies([{"name": "hanse_lang", "value": language, "domain": "127.0.0.1", "path": "/console"}])
    staff.sign_in()
    staff.open(f"/console/orders/{placed['id']}")
    expect(staff.page.locator("#timeline li").first).to_be_visible()
    staff.assert_accessible()
    staff.open(f"/console/quotes/{placed['quote_id']}")
    staff.assert_accessible()
    staff.open("/console/quotes/new")
    staff.assert_accessible()
    staff.open("/console/inquiries")
    staff.assert_accessible()
    if language == "de":
        assert staff.page.inner_text("h1") == "Anfragen"


def test_a_user_without_a_sales_role_is_refused_the_360(staff: Staff) -> None:
    account, sku = buyer_and_product(staff)

    async def order(gateway: Gateway) -> dict:
        return await gateway.place_order(account, sku, 1, incoterm="FCA")

    placed = staff.on_platform(order)
    username, password = staff.new_user("marketing")
    staff.sign_in(username, password)
    staff.open(f"/console/orders/{placed['id']}", status=403)
    assert "This page needs one of the roles" in staff.page.inner_text("main")
    assert placed["id"] not in staff.page.inner_text("main")
    response = staff.page.request.get(f"/console/orders/{placed['id']}/timeline")
    assert response.status == 403


def test_bad_addresses_filters_and_form_values_answer_a_page_never_a_500(staff: Staff) -> None:
    staff.sign_in()
    request = staff.page.request
    for path in (
        "/console/orders?status=bogus",
        "/console/orders?cursor=not-a-cursor",
        "/console/orders?limit=abc",
        "/console/orders?q=" + "x" * 65,
        "/console/orders/ord%20x",
        "/console/orders/" + "o" * 70,
        "/console/orders/ord-missing",
        "/console/orders/ord-missing/timeline?after=-1",
        "/console/orders/ord-missing/summary",
        "/console/inquiries?status=nope",
        "/console/inquiries/inq-missing",
        "/console/quotes?account=%00",
        "/console/quotes/new?inquiry=inq-missing",
        "/console/quotes/quo-missing",
        "/console/tickets?breached=maybe",
        "/console/tickets/tkt-missing",
    ):
        response = request.get(path, max_redirects=0)
        assert 400 <= response.status < 500, (path, response.status)
        assert "Traceback" not in response.text()
    odd = request.get("/console/orders?q=a%2Fb%00c")
    assert odd.status == 200 and "There is no order with the id" in odd.text()
    staff.open("/console/quotes/new")
    token = staff.page.locator("input[name=csrf_token]").first.input_value()
    for form in (
        {"account_id": "acc-x", "currency": "€€€", "lines.0.sku": "X", "lines.0.quantity": "abc"},
        {"account_id": "", "currency": "", "named_place": "", "lines.1.quantity": "-5"},
        {"account_id": "a" * 500, "incoterm": "XYZ", "inquiry_id": "inq-missing"},
    ):
        response = request.post("/console/quotes", form={"csrf_token": token, **form}, max_redirects=0)
        assert 400 <= response.status < 500, (form, response.status)
        assert "Traceback" not in response.text()
    for path, form in (
        ("/console/orders/ord-missing/cancel", {"reason": "x" * 600}),
        ("/console/quotes/quo-missing/accept", {}),
        ("/console/tickets", {"account_id": "acc-x", "priority": "whenever"}),
        ("/console/tickets/tkt-missing/reply", {"body": ""}),
        ("/console/tickets/tkt-missing/status", {"status": "reopened"}),
    ):
        response = request.post(path, form={"csrf_token": token, **form}, max_redirects=0)
        assert 400 <= response.status < 500, (path, response.status)
