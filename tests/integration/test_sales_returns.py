"""The order lists logistics' returns and shows `returned` when everything came back."""

from __future__ import annotations

from services.logistics.contract import ReturnInspected, ReturnLine, ReturnRequested
from tests.integration.test_sales_api import get, place_order
from tests.support.kafka import eventually
from tests.support.service import run_service


async def test_returns_are_listed_and_a_full_return_marks_the_order_returned(settings):
    async with run_service("sales", settings) as svc:
        order = await place_order(svc)  # 10 x PUMP-100
        oid = order["id"]
        assert (order["returned"], order["returns"]) == (False, [])

        async def order_when(check):
            async def probe():
                found = (await get(svc, f"/orders/{oid}", role="logistics")).json()
                return found if check(found) else None

            return await eventually(probe)

        await svc.deliver(
            ReturnRequested(
                return_id="ret_1",
                rma_number="RMA-1",
                order_id=oid,
                lines=[ReturnLine(sku="PUMP-100", quantity=4)],
                reason="damaged",
            )
        )
        await svc.deliver(
            ReturnInspected(
                return_id="ret_1",
                rma_number="RMA-1",
                order_id=oid,
                lines=[ReturnLine(sku="PUMP-100", quantity=4, restocked=3, scrapped=1)],
            )
        )
        partly = await order_when(lambda o: o["returns"] and o["returns"][0]["status"] == "inspected")
        assert partly["returned"] is False and partly["status"] == "placed"
        assert partly["returns"][0]["lines"] == [{"sku": "PUMP-100", "quantity": 4, "restocked": 3, "scrapped": 1}]
        assert (partly["returns"][0]["rma_number"], partly["returns"][0]["reason"]) == ("RMA-1", "damaged")

        # The rest comes back; its inspection arrives before its request (another topic order).
        rest = [ReturnLine(sku="PUMP-100", quantity=6, restocked=6)]
        await svc.deliver(ReturnInspected(return_id="ret_2", rma_number="RMA-2", order_id=oid, lines=rest))
        await svc.deliver(
            ReturnRequested(return_id="ret_2", rma_number="RMA-2", order_id=oid, lines=rest, reason="wrong size")
        )
        full = await order_when(lambda o: len(o["returns"]) == 2 and o["returns"][1]["reason"] == "wrong size")
        assert full["returned"] is True
        assert [r["status"] for r in full["returns"]] == ["inspected", "inspected"]
        listed = (await get(svc, "/orders", role="logistics")).json()["items"]
        assert [o["returned"] for o in listed if o["id"] == oid] == [True]
