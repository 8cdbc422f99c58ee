"""GET /api/v1/sales/orders/summary: orders counted per status with one GROUP BY (the console's home)."""

from __future__ import annotations

from tests.integration.test_sales_api import BASE, assert_problem, get, place_order
from tests.support.service import run_service


async def test_orders_are_counted_per_status_for_the_order_readers_only(settings):
    async with run_service("sales", settings) as svc:
        empty = (await get(svc, "/orders/summary")).json()
        assert empty["total"] == 0
        assert set(empty["by_status"]) >= {"placed", "on_hold", "shipped", "cancelled"}
        assert set(empty["by_status"].values()) == {0}

        first = await place_order(svc)
        await place_order(svc, email="two@acme.example")
        summary = await get(svc, "/orders/summary")
        assert summary.status_code == 200, summary.text
        body = summary.json()
        assert body["by_status"]["placed"] == 2 and body["total"] == 2
        # The list agrees with the count.
        listed = (await get(svc, "/orders", status="placed")).json()["items"]
        assert len(listed) == body["by_status"]["placed"]

        # One account's orders; "summary" is not taken for an order id.
        mine = (await get(svc, "/orders/summary", account_id=first["account_id"])).json()
        assert mine["by_status"]["placed"] == 1 and mine["total"] == 1
        assert (await get(svc, "/orders/summary", account_id="nobody")).json()["total"] == 0

        # Every role that may list orders may count them; others may not; no token is a 401.
        for role in ("finance", "logistics", "compliance", "partner"):
            assert (await get(svc, "/orders/summary", role=role)).json()["total"] == 2
        assert_problem(await get(svc, "/orders/summary", role="marketing"), 403)
        assert_problem(await svc.client.get(f"{BASE}/orders/summary"), 401)

        # Bad filters: a 422 naming the field, never a 500.
        assert_problem(await get(svc, "/orders/summary", account_id=""), 422)
        assert_problem(await get(svc, "/orders/summary", account_id="x" * 300), 422)
        assert_problem(await get(svc, "/orders/summary", account_id="a\x00b"), 422)
