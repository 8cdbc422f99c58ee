"""The console's home: cards per role, counts that follow the API, the aging chart, holds and tickets."""

from __future__ import annotations

import re

from tests.browser.support import Staff, run
from tests.e2e.flow import Gateway, unique


def _figure(staff: Staff, selector: str) -> int:
    return int(re.sub(r"[^0-9]", "", staff.page.inner_text(selector)))


def _seed(staff: Staff) -> dict:
    """Two orders, one of them held by a watchlist match, and an urgent ticket, all through the API."""

    async def work() -> dict:
        gw = Gateway(staff.platform)
        try:
            tag = unique("X").split("-")[1]
            await gw.post("/compliance/watchlist", {"name": f"Dashboard Holdings {tag}", "reason": "console test"})
            sku, _ = await gw.stocked_product(20)
            plain = await gw.account(unique("Dashboard Buyer"))
            held_account = await gw.account(f"Dashboard Holdings {tag} GmbH")
            first = await gw.place_order(plain, sku, 1)
            held = await gw.place_order(held_account, sku, 1)
            await gw.order_reaches(held["id"], "on_hold")
            [check] = await gw.items("/compliance/checks", order_id=held["id"])
            ticket = await gw.post(
                "/sales/tickets",
                {
                    "account_id": plain,
                    "subject": f"Pump arrived damaged {tag}",
                    "body": "The casing is cracked.",
                    "channel": "email",
                    "priority": "urgent",
                    "order_id": first["id"],
                },
            )
            queue = await gw.items("/sales/tickets", status="open", limit=5)
            return {"check": check, "ticket": ticket, "queue": [t["id"] for t in queue], "tag": tag}
        finally:
            await gw.close()

    return run(work)


def test_dashboard_cards_follow_the_api(staff: Staff) -> None:
    staff.sign_in()
    staff.open("/console/")
    before_total = _figure(staff, "#orders-total")
    before_held = _figure(staff, "#card-orders tr[data-status=on_hold] td.num")

    seeded = _seed(staff)
    staff.open("/console/")
    page = staff.page
    assert _figure(staff, "#orders-total") >= before_total + 2
    assert _figure(staff, "#card-orders tr[data-status=on_hold] td.num") >= before_held + 1
    # The hold is listed, linking to the review queue.
    hold = page.locator(f"#card-reviews li[data-check='{seeded['check']['id']}']")
    assert f"Dashboard Holdings {seeded['tag']}" in hold.inner_text()
    assert hold.locator("a").get_attribute("href") == "/console/compliance/reviews"
    assert _figure(staff, "#reviews-count") >= 1
    # The tickets card shows the queue's first open tickets, each linking to its page.
    shown = page.locator("#card-tickets li[data-ticket]").evaluate_all("els => els.map(e => e.dataset.ticket)")
    assert shown[: len(seeded["queue"])] == seeded["queue"][: len(shown)]
    if seeded["ticket"]["id"] in seeded["queue"]:
        link = page.locator(f"#card-tickets li[data-ticket='{seeded['ticket']['id']}'] a")
        assert link.get_attribute("href") == f"/console/tickets/{seeded['ticket']['id']}"
        assert f"Pump arrived damaged {seeded['tag']}" in link.inner_text()
    # Finance's cards: revenue this month and the aging chart, drawn by Chart.js.
    assert page.inner_text("#revenue-month")
    page.wait_for_function("document.querySelector('canvas[data-chart]').dataset.drawn === '1'")
    assert page.evaluate("Chart.getChart(document.querySelector('canvas')) !== undefined")
    assert page.locator("#card-aging tbody tr").count() == 5
    assert page.locator(".problem").count() == 0


def test_each_role_sees_its_own_cards_without_errors(staff: Staff) -> None:
    staff.sign_in(*staff.new_user("marketing"))
    response = staff.open("/console/")
    assert response.status == 200
    page = staff.page
    for card in ("orders", "revenue", "aging", "reviews", "tickets"):
        assert page.locator(f"#card-{card}").count() == 0, card
    assert page.locator(".problem").count() == 0
    assert "Your roles open no dashboard cards." in page.inner_text("main")

    staff.sign_in(*staff.new_user("finance"))
    staff.open("/console/")
    assert {c: page.locator(f"#card-{c}").count() for c in ("orders", "revenue", "aging", "reviews", "tickets")} == {
        "orders": 1,
        "revenue": 1,
        "aging": 1,
        "reviews": 0,
        "tickets": 0,
    }
    assert page.evaluate("Chart.getChart(document.querySelector('canvas')) !== undefined")

    staff.sign_in(*staff.new_user("compliance"))
    staff.open("/console/")
    assert page.locator("#card-reviews").count() == 1 and page.locator("#card-revenue").count() == 0
    assert page.locator("script[src$='chart.umd.min.js']").count() == 0  # no chart, no Chart.js


def test_dashboard_is_accessible_in_english_and_german(staff: Staff) -> None:
    staff.sign_in()
    for language, heading in (("en", "Home"), ("de", "Start")):
        staff.context.add_cookies(
            [{"name": "hanse_lang", "value": language, "url": staff.platform.gateway + "/console/"}]
        )
        staff.open("/console/")
        assert staff.page.inner_text("h1") == heading
        staff.assert_accessible()
