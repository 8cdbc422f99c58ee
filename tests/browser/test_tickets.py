"""Support in the console: the queue with SLA clocks and filters, replying, status changes, a new ticket."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.support import Staff
from tests.e2e.flow import Gateway, unique


def account_with_ticket(staff: Staff, priority: str = "high") -> tuple[str, dict]:
    async def work(gateway: Gateway) -> tuple[str, dict]:
        account = await gateway.account(unique("Support GmbH"), country="DE")
        ticket = await gateway.post(
            "/sales/tickets",
            {
                "account_id": account,
                "subject": unique("Pump leaks"),
                "body": "The pump we received leaks at the flange.",
                "channel": "email",
                "priority": priority,
            },
        )
        return account, ticket

    return staff.on_platform(work)


def api_ticket(staff: Staff, ticket_id: str) -> dict:
    response = httpx.get(
        f"{staff.platform.gateway}/api/v1/sales/tickets/{ticket_id}",
        headers={"Authorization": f"Bearer {staff.admin_token()}"},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_queue_shows_each_tickets_sla_clock_and_filters(staff: Staff) -> None:
    account, ticket = account_with_ticket(staff)
    staff.sign_in()
    staff.open(f"/console/tickets?account={account}")
    row = staff.page.locator(f"tr[data-ticket='{ticket['id']}']")
    text = row.inner_text()
    assert ticket["subject"] in text and "high" in text and "First response" in text
    # The due time in the user's zone (Europe/Berlin, like the buyer's here) and the time left or past it.
    assert re.search(r"\d{1,2} \w{3} \d{4}, \d{2}:\d{2}:\d{2}", text), text
    assert re.search(r"(left|Breached .* ago)", row.locator(".sla").inner_text())
    # Filters: another status hides it (htmx swaps the results only), and it is back with "open".
    staff.page.select_option("#f-status", "closed")
    staff.page.click("form.filters button[type=submit]")
    staff.page.wait_for_url(re.compile(r"status=closed"))
    assert row.count() == 0 and "No tickets match these filters." in staff.page.inner_text("#results")
    staff.open(f"/console/tickets?account={account}&status=open&breached=false")
    assert row.count() == 1
    staff.open("/console/tickets?status=nonsense", status=400)


def test_a_reply_in_the_browser_reaches_the_api_and_the_ticket_is_resolved(staff: Staff) -> None:
    _, ticket = account_with_ticket(staff)
    staff.sign_in()
    staff.open(f"/console/tickets/{ticket['id']}")
    page = staff.page
    assert page.inner_text("h1") == ticket["subject"]
    assert "The pump we received leaks at the flange." in page.inner_text("#messages")
    assert page.inner_text("#ticket-sla").startswith("First response")
    reply = "A replacement gasket is on its way. <b>Sorry!</b>"
    page.fill("#f-body", reply)
    page.click("form[action$='/reply'] button")
    expect(page.locator("p.flash")).to_have_text("Your reply was sent.")
    assert reply in page.inner_text("#messages")  # shown as text, not markup
    stored = api_ticket(staff, ticket["id"])
    assert [(m["author"], m["body"]) for m in stored["messages"]][-1] == ("agent", reply)
    assert stored["first_responded_at"] is not None
    assert page.inner_text("#ticket-sla").startswith("Resolution")
    page.click("form[action$='/status'] button:text-is('Resolve')")
    expect(page.locator("#ticket-status")).to_have_text("resolved")
    assert api_ticket(staff, ticket["id"])["status"] == "resolved"
    assert "Clock stopped" in page.inner_text("#ticket-sla")


def test_a_new_ticket_from_the_form_and_a_refusal_next_to_its_field(staff: Staff) -> None:
    account, _ = account_with_ticket(staff)
    staff.sign_in()
    staff.open("/console/tickets/new")
    page = staff.page
    page.fill("#f-account_id", "acc-does-not-exist")
    page.fill("#f-subject", "Where is my order?")
    page.fill("#f-body", "It was due yesterday.")
    page.click("form[action='/console/tickets'] button[type=submit]")
    expect(page.locator("#e-account_id")).to_contain_text("no account")
    page.fill("#f-account_id", account)
    page.select_option("#f-priority", "urgent")
    page.click("form[action='/console/tickets'] button[type=submit]")
    page.wait_for_url(re.compile(r"/console/tickets/[^/n][^/]*$"))
    assert "The ticket was opened." in page.inner_text("main")
    ticket_id = page.url.rsplit("/", 1)[-1]
    stored = api_ticket(staff, ticket_id)
    assert stored["account_id"] == account and stored["priority"] == "urgent"


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_ticket_pages_pass_axe(staff: Staff, language: str) -> None:
    account, ticket = account_with_ticket(staff)
    staff.context.add_cookies([{"name": "hanse_lang", "value": language, "domain": "127.0.0.1", "path": "/console"}])
    staff.sign_in()
    staff.open(f"/console/tickets/{ticket['id']}")
    staff.assert_accessible()
    staff.open(f"/console/tickets?account={account}")
    staff.assert_accessible()
    staff.open("/console/tickets/new")
    staff.assert_accessible()
    if language == "de":
        assert staff.page.inner_text("h1") == "Neues Ticket"
