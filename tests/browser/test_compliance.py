"""The compliance review queue in Chromium: an officer clears a held order; a decision without a note is refused."""

from __future__ import annotations

import pytest

from tests.browser.support import Staff, run
from tests.e2e.flow import Gateway, unique

QUEUE = "/console/compliance/reviews"


def held_order(staff: Staff) -> tuple[str, dict]:
    """An order held by a watchlist match on its buyer; returns (order id, its check)."""

    async def work() -> tuple[str, dict]:
        api = Gateway(staff.platform)
        try:
            tag = unique("X").split("-")[1]
            await api.post("/compliance/watchlist", {"name": f"Ostsee Handel {tag}", "country": "DE", "reason": "test"})
            sku, _ = await api.stocked_product(5)
            account = await api.account(f"Ostsee Handel {tag} GmbH", country="DE")
            order = await api.place_order(account, sku, 2, incoterm="DAP", destination="DE", named_place="Munich")
            await api.order_reaches(order["id"], "on_hold")
            [check] = await api.items("/compliance/checks", order_id=order["id"])
            return order["id"], check
        finally:
            await api.close()

    return run(work)


def api_get(staff: Staff, path: str) -> dict:
    async def work() -> dict:
        api = Gateway(staff.platform)
        try:
            return await api.get(path)
        finally:
            await api.close()

    return run(work)


def test_an_officer_clears_a_held_order_and_a_decision_without_a_note_is_refused(staff: Staff) -> None:
    order_id, check = held_order(staff)
    assert (check["status"], check["result"]) == ("open", "review")
    staff.sign_in(*staff.new_user("compliance"))
    page = staff.page
    staff.open(f"{QUEUE}?order_id={order_id}")
    card = page.locator("section.card", has_text=check["id"])
    assert card.count() == 1
    assert check["party"] in card.inner_text()
    assert card.locator("table").count() == 1, "the watchlist match is listed"
    assert "watchlist" in card.locator("table").inner_text()
    staff.assert_accessible()

    # A decision posted without the form's CSRF token is refused before anything runs.
    forged = page.request.post(f"{QUEUE}/{check['id']}/decision", form={"decision": "clear", "note": "forged"})
    assert forged.status == 403 and "nothing was changed" in forged.text()

    # Reject without a note: the API refuses, the message stands next to the note, nothing changed.
    card.get_by_label("Decision").select_option("reject")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        card.get_by_role("button", name="Record the decision").click()
    assert posted.value.status == 422
    card = page.locator("section.card", has_text=check["id"])
    note_error = card.locator(".field.invalid .error")
    assert note_error.count() == 1 and note_error.inner_text()
    assert card.get_by_label("Note").get_attribute("aria-invalid") == "true"
    assert card.get_by_label("Decision").input_value() == "reject", "the form keeps what was chosen"
    staff.assert_accessible()
    unchanged = api_get(staff, f"/compliance/checks/{check['id']}")
    assert (unchanged["status"], unchanged["decision"]) == ("open", None)

    # Clear it with a note: a flash says so, it leaves the queue, the order leaves on_hold.
    card.get_by_label("Decision").select_option("clear")
    card.get_by_label("Note").fill("Different company: register HRB 4711")
    card.get_by_role("button", name="Record the decision").click()
    page.wait_for_selector(".flash")
    assert page.inner_text(".flash") == f"Check {check['id']} cleared."
    assert page.locator("section.card", has_text=check["id"]).count() == 0
    assert "No checks match these filters." in page.inner_text("#checks")
    decided = api_get(staff, f"/compliance/checks/{check['id']}")
    assert (decided["status"], decided["result"], decided["decision"]) == ("decided", "clear", "clear")
    assert decided["note"] == "Different company: register HRB 4711"

    async def released() -> dict:
        api = Gateway(staff.platform)
        try:
            return await api.order_reaches(order_id, "placed", "confirmed", "ready_to_ship", "backordered")
        finally:
            await api.close()

    assert run(released)["status"] != "on_hold"

    # The decided check is found with the status filter, with the officer's note.
    page.get_by_label("Status").select_option("decided")
    page.get_by_label("Result").select_option("")
    page.get_by_label("Order id").fill(order_id)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(lambda url: "status=decided" in url)
    page.wait_for_selector(f"section.card:has-text('{check['id']}')")
    assert "register HRB 4711" in page.locator("section.card", has_text=check["id"]).inner_text()


@pytest.mark.parametrize("language", ["de"])
def test_the_queue_in_german_passes_axe(staff: Staff, language: str) -> None:
    staff.context.add_cookies([{"name": "hanse_lang", "value": language, "domain": "127.0.0.1", "path": "/console"}])
    staff.sign_in()
    staff.open(f"{QUEUE}?status=&result=")
    assert staff.page.inner_text("h1") == "Compliance-Prüfungen"
    staff.assert_accessible()


def test_a_user_without_the_compliance_role_is_refused_the_queue(staff: Staff) -> None:
    staff.sign_in(*staff.new_user("marketing"))
    staff.open(QUEUE, status=403)
    assert "This page needs one of the roles: compliance." in staff.page.inner_text("main")
    assert staff.page.locator("header nav a[href='/console/compliance/reviews']").count() == 0


def test_a_bad_filter_value_is_a_400_page_not_a_crash(staff: Staff) -> None:
    staff.sign_in()
    staff.open(f"{QUEUE}?status=nonsense", status=400)
    assert "A filter value was not accepted." in staff.page.inner_text("main")
