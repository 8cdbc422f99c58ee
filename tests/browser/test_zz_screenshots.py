"""The last walk: every section and an order's 360 with the data the other browser tests made.

Named to run last when the browser tests run in file order (`make screenshots` runs them so and
saves the PNGs to docs/console/ for the README); under xdist it may run earlier, and still checks
that every page renders and passes axe with whatever data exists.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.browser.support import Staff
from tests.e2e.flow import Gateway, unique
from web.nav import SECTIONS


def an_order(staff: Staff) -> str:
    """The newest order the other tests placed, or (run alone) one placed now."""
    answer = httpx.get(
        f"{staff.platform.gateway}/api/v1/sales/orders",
        params={"limit": 1},
        headers={"Authorization": f"Bearer {staff.admin_token()}"},
        timeout=20,
    )
    assert answer.status_code == 200, answer.text
    if answer.json()["items"]:
        return answer.json()["items"][0]["id"]

    async def place(gateway: Gateway) -> str:
        sku, _ = await gateway.stocked_product(20)
        account = await gateway.account(unique("Screenshot GmbH"), country="FR")
        return (await gateway.place_order(account, sku, 2))["id"]

    return staff.on_platform(place)


def test_every_section_and_an_order_360_render_with_data(staff: Staff, tmp_path: Path) -> None:
    staff.page.goto("/console/login")
    staff.screenshot("login", tmp_path)
    staff.sign_in()
    for section in SECTIONS:
        staff.open(section.path)
        staff.page.wait_for_load_state("networkidle")
        assert staff.page.locator("h1").count() >= 1, section.path
        staff.assert_accessible()
        staff.screenshot(section.key, tmp_path)
    staff.open(f"/console/orders/{an_order(staff)}")
    staff.page.wait_for_selector("#timeline li")
    staff.assert_accessible()
    staff.screenshot("order-360", tmp_path)
