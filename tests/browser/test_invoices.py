"""Invoices in the console: the list with its PDF download, one invoice, recording a bank transfer."""

from __future__ import annotations

import io
from decimal import Decimal

import pypdf
from playwright.sync_api import expect

from tests.browser.support import Staff, run
from tests.e2e.flow import Gateway, unique


def _order_with_proforma(staff: Staff, payment_terms: str = "prepaid") -> tuple[dict, dict]:
    """An order placed through the API and its proforma invoice, once finance has issued it."""

    async def work() -> tuple[dict, dict]:
        gw = Gateway(staff.platform)
        try:
            sku, _ = await gw.stocked_product(50)
            account = await gw.account(unique("Invoice Buyer"), payment_terms=payment_terms)
            order = await gw.place_order(account, sku, 3)

            async def proforma():
                found = [i for i in await gw.invoices(order["id"]) if i["kind"] == "proforma"]
                return found[0] if found else None

            return order, await gw.eventually(proforma, "the proforma is issued")
        finally:
            await gw.close()

    return run(work)


def _api(staff: Staff, path: str, **params) -> dict:
    async def work() -> dict:
        gw = Gateway(staff.platform)
        try:
            return await gw.get(path, params=params)
        finally:
            await gw.close()

    return run(work)


def test_download_an_invoice_pdf_from_the_list(staff: Staff) -> None:
    order, invoice = _order_with_proforma(staff)
    staff.sign_in()
    staff.open("/console/finance/invoices")
    page = staff.page
    assert page.inner_text("h1") == "Invoices"
    # Filter the list to the order, from the form (htmx swaps the results in place).
    page.fill("#f-order_id", order["id"])
    page.click("form.filters button[type=submit]")
    # The invoice is already in the unfiltered list: wait for the filtered results, not for the row.
    expect(page.locator("#invoice-results tbody tr")).to_have_count(1)
    row = page.locator(f"tr[data-invoice='{invoice['id']}']")
    assert invoice["number"] in row.inner_text()
    assert "Proforma" in row.inner_text() and "Issued" in row.inner_text()
    with page.expect_download() as info:
        row.get_by_role("link", name=f"PDF of {invoice['number']}").click()
    download = info.value
    assert download.suggested_filename == f"{invoice['number']}.pdf"
    content = open(download.path(), "rb").read()
    assert content.startswith(b"%PDF")
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(content)).pages)
    assert invoice["number"] in text
    # The console route answers with the PDF type and as an attachment.
    response = page.request.get(f"/console/finance/invoices/{invoice['id']}.pdf")
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="{invoice["number"]}.pdf"'


def test_filters_empty_state_and_bad_values(staff: Staff) -> None:
    staff.sign_in()
    staff.open(f"/console/finance/invoices?order_id={unique('no-such-order')}")
    assert "No invoice matches these filters." in staff.page.inner_text("main")
    staff.open("/console/finance/invoices?kind=receipt", status=400)
    assert "A filter value was not accepted." in staff.page.inner_text("main")
    staff.open("/console/finance/invoices?order_id=" + "x" * 100, status=400)
    staff.open("/console/finance/invoices/nope-no-invoice", status=404)
    staff.open("/console/finance/invoices/nope-no-invoice.pdf", status=404)
    staff.open("/console/finance/invoices/bad%20id%3F", status=404)


def test_record_a_payment_in_the_browser(staff: Staff) -> None:
    _, invoice = _order_with_proforma(staff)
    total = Decimal(invoice["total"]["amount"])
    staff.sign_in()
    staff.open(f"/console/finance/invoices/{invoice['id']}")
    page = staff.page
    assert page.inner_text("#invoice-status") == "Issued"
    assert "No payment has been recorded." in page.inner_text("main")

    # More than is open: finance's refusal is shown at the amount field, and nothing is recorded.
    page.fill("#f-amount", str(total + 1000))
    page.fill("#f-reference", "TRF-TOO-MUCH")
    page.click("button:has-text('Record payment')")
    error = page.inner_text("#e-amount")
    assert "more than the open amount" in error
    assert page.get_attribute("#f-amount", "aria-invalid") == "true"
    assert page.input_value("#f-reference") == "TRF-TOO-MUCH"  # the form keeps what was typed
    # Another currency: at the currency field.
    page.fill("#f-amount", str(total))
    page.fill("#f-currency", "USD")
    page.click("button:has-text('Record payment')")
    assert "the payment in USD" in page.inner_text("#e-currency")
    # Not a number.
    page.fill("#f-amount", "lots")
    page.fill("#f-currency", invoice["currency"])
    page.click("button:has-text('Record payment')")
    assert page.inner_text("#e-amount")
    assert _api(staff, "/finance/payments", invoice_id=invoice["id"])["items"] == []
    assert _api(staff, f"/finance/invoices/{invoice['id']}")["status"] == "issued"

    # The open amount, as prefilled: the invoice is paid.
    page.fill("#f-amount", str(total))
    page.fill("#f-reference", "TRF-2026-0001")
    page.click("button:has-text('Record payment')")
    page.wait_for_selector("text=The payment was recorded.")
    assert page.inner_text("#invoice-status") == "Paid"
    assert "TRF-2026-0001" in page.inner_text("main")
    paid = _api(staff, f"/finance/invoices/{invoice['id']}")
    assert paid["status"] == "paid" and Decimal(paid["open_amount"]["amount"]) == 0
    (payment,) = _api(staff, "/finance/payments", invoice_id=invoice["id"])["items"]
    assert payment["method"] == "bank_transfer" and payment["reference"] == "TRF-2026-0001"
    # Paid: no form any more; a second payment posted anyway is refused and records nothing.
    assert page.locator("#f-amount").count() == 0
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    again = page.request.post(
        f"/console/finance/invoices/{invoice['id']}/payments",
        form={"csrf_token": token, "amount": str(total), "currency": invoice["currency"], "reference": "TRF-TWICE"},
    )
    assert again.status == 409
    # Paid, or (the prepaid order shipped meanwhile) superseded by the commercial invoice: either way, said.
    assert "takes no payments" in again.text() or "superseded by its commercial invoice" in again.text()
    assert len(_api(staff, "/finance/payments", invoice_id=invoice["id"])["items"]) == 1


def test_payment_needs_the_finance_role_and_a_csrf_token(staff: Staff) -> None:
    _, invoice = _order_with_proforma(staff)
    staff.sign_in(*staff.new_user("sales"))
    staff.open(f"/console/finance/invoices/{invoice['id']}")
    page = staff.page
    assert page.locator("#f-amount").count() == 0  # sales reads invoices but records no payment
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    body = {"amount": invoice["total"]["amount"], "currency": invoice["currency"], "reference": "X"}
    refused = page.request.post(
        f"/console/finance/invoices/{invoice['id']}/payments", form={"csrf_token": token, **body}
    )
    assert refused.status == 403
    forged = page.request.post(
        f"/console/finance/invoices/{invoice['id']}/payments", form={"csrf_token": "0" * 64, **body}
    )
    assert forged.status == 403 and "nothing was changed" in forged.text()
    assert _api(staff, f"/finance/invoices/{invoice['id']}")["status"] == "issued"
    # Marketing does not see invoices at all.
    staff.sign_in(*staff.new_user("marketing"))
    staff.open("/console/finance/invoices", status=403)


def test_invoice_page_is_accessible_in_english_and_german(staff: Staff) -> None:
    _, invoice = _order_with_proforma(staff)
    staff.sign_in()
    for language, heading in (("en", "Invoice"), ("de", "Rechnung")):
        staff.context.add_cookies(
            [{"name": "hanse_lang", "value": language, "url": staff.platform.gateway + "/console/"}]
        )
        staff.open(f"/console/finance/invoices/{invoice['id']}")
        assert staff.page.inner_text("h1").startswith(heading)
        staff.assert_accessible()
        staff.open("/console/finance/invoices")
        staff.assert_accessible()
