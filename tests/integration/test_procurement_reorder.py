"""Reorder rules on the real broker and databases: logistics' stock events raise ONE draft purchase
order per shortage, also when the events race; privacy requests are answered."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

from sqlmodel import select

from hanse.events import CloudEvent
from hanse.uow import UnitOfWork
from services.compliance.contract import PrivacyRequestOpened
from services.logistics.contract import ShortLine, StockLevel, StockReceived, StockReserved, StockShort
from services.procurement.domain import reorder
from services.procurement.models import PurchaseOrder, ReorderRule
from tests.integration.test_procurement_purchasing import assert_problem, order, register, screened
from tests.support.kafka import eventually, read_all
from tests.support.service import RunningService, run_service


def level(sku: str, available: int, warehouse: str = "HAM") -> StockLevel:
    return StockLevel(sku=sku, warehouse=warehouse, on_hand=available, reserved=0, available=available)


async def put_rule(svc: RunningService, sku: str, **body):
    return await svc.client.put(f"/api/v1/procurement/reorder-rules/{sku}", json=body, headers=svc.auth("procurement"))


async def orders_for(svc: RunningService, sku: str) -> list[dict]:
    r = await svc.client.get(
        "/api/v1/procurement/purchase-orders", params={"sku": sku}, headers=svc.auth("procurement")
    )
    return r.json()["items"]


async def test_a_back_order_raises_one_draft_purchase_order_and_racing_stock_events_never_two(settings):
    async with run_service("procurement", settings) as svc:
        supplier = await register(svc)
        await screened(svc, supplier["id"], "clear", "approved")
        for sku, moq in (("BOLT-8", 20), ("NUT-8", 1)):
            await svc.client.put(
                f"/api/v1/procurement/suppliers/{supplier['id']}/prices/{sku}",
                json={"unit_price": {"amount": "0.50", "currency": "EUR"}, "moq": moq},
                headers=svc.auth("procurement"),
            )
        rule = {"warehouse": "HAM", "min_available": 10, "reorder_quantity": 15, "supplier_id": supplier["id"]}

        # Logistics never named HAM yet: the rule is refused and nothing is stored.
        assert_problem(await put_rule(svc, "BOLT-8", **rule), 422, "warehouse")
        await svc.deliver(
            StockReceived(receipt_id="rcv-1", sku="BOLT-8", warehouse="HAM", quantity=50, levels=[level("BOLT-8", 50)])
        )

        async def accepted():
            r = await put_rule(svc, "BOLT-8", **rule)
            return r if r.status_code == 200 else None

        saved = (await eventually(accepted)).json()
        assert saved["warehouse"] == "HAM" and saved["open_purchase_order_id"] is None
        assert_problem(await put_rule(svc, "BOLT-8", **{**rule, "supplier_id": "sup-x"}), 422, "supplier_id")
        assert_problem(await put_rule(svc, "BOLT-8", **{**rule, "reorder_quantity": 0}), 422, "reorder_quantity")
        assert await orders_for(svc, "BOLT-8") == [], "50 available is not below 10"

        # A back-order of 30 with 5 available: one draft for max(15, shortfall 25, MOQ 20) units.
        order_id = f"ord-{uuid.uuid4().hex[:8]}"
        short = StockShort(
            order_id=order_id,
            lines=[ShortLine(sku="BOLT-8", requested=30, available=5)],
            levels=[level("BOLT-8", 5)],
        )
        await svc.deliver(short)
        [draft] = await eventually(lambda: orders_for(svc, "BOLT-8"))
        assert draft["status"] == "draft" and draft["supplier_id"] == supplier["id"]
        assert [(line["sku"], line["quantity"]) for line in draft["lines"]] == [("BOLT-8", 25)]
        assert draft["total"] == {"amount": "12.50", "currency": "EUR"} and draft["warehouse"] == "HAM"

        # The same shortage told again (another event, a reservation leaving 2): still one order.
        await svc.deliver(StockShort(order_id=f"ord-{uuid.uuid4().hex[:8]}", lines=short.lines, levels=short.levels))
        reserved = StockReserved(order_id=order_id, lines=[], levels=[level("BOLT-8", 2)])
        last = await svc.deliver(reserved)
        inbox = svc.runtime.db.metadata.tables["inbox"]

        async def handled():
            async with svc.runtime.db.session() as session:
                return (await session.exec(select(inbox.c.event_id).where(inbox.c.event_id == last.id))).first()

        await eventually(handled)
        assert [o["id"] for o in await orders_for(svc, "BOLT-8")] == [draft["id"]]

        # The buyer withdraws the draft: the rule is free, and the next shortage raises a new order.
        cancel = f"/api/v1/procurement/purchase-orders/{draft['id']}/cancel"
        withdrawn = await svc.client.post(cancel, headers=svc.auth("procurement"))
        assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "cancelled"
        assert_problem(await svc.client.post(cancel, headers=svc.auth("procurement")), 409, "status")
        await svc.deliver(StockReserved(order_id=order_id, lines=[], levels=[level("BOLT-8", 1)]))

        async def replaced():
            found = [o for o in await orders_for(svc, "BOLT-8") if o["status"] == "draft"]
            return found or None

        [again] = await eventually(replaced)
        assert again["id"] != draft["id"] and again["lines"][0]["quantity"] == 20, "max(15, MOQ 20)"

        # A SKU the supplier has no price for: the draft waits for one, and takes it when sent.
        assert (await put_rule(svc, "GASKET-2", **rule)).status_code == 200
        await svc.deliver(StockReserved(order_id=order_id, lines=[], levels=[level("GASKET-2", 0)]))
        [unpriced] = await eventually(lambda: orders_for(svc, "GASKET-2"))
        assert unpriced["lines"][0]["unit_price"] is None and unpriced["total"]["amount"] == "0.00"
        url = f"/api/v1/procurement/purchase-orders/{unpriced['id']}"
        assert_problem(await svc.client.get(f"{url}/pdf", headers=svc.auth("procurement")), 409, "status")
        assert_problem(await svc.client.post(f"{url}/send", headers=svc.auth("procurement")), 409, "lines")
        await svc.client.put(
            f"/api/v1/procurement/suppliers/{supplier['id']}/prices/GASKET-2",
            json={"unit_price": {"amount": "2.00", "currency": "EUR"}},
            headers=svc.auth("procurement"),
        )
        sent = await svc.client.post(f"{url}/send", headers=svc.auth("procurement"))
        assert sent.status_code == 200 and sent.json()["status"] == "sent", sent.text
        assert sent.json()["total"] == {"amount": "30.00", "currency": "EUR"}, "15 units at 2.00"
        assert (await svc.client.get(f"{url}/pdf", headers=svc.auth("procurement"))).status_code == 200

        # Eight racing handlers of a low level for NUT-8, each in its own transaction: one order.
        assert (await put_rule(svc, "NUT-8", **rule)).status_code == 200

        async def handle(n: int) -> int:
            event = StockReserved(order_id=f"ord-race-{n}", lines=[], levels=[level("NUT-8", 3)])
            async with svc.runtime.db.session() as session, session.begin():
                uow = UnitOfWork(session, svc.settings, svc.runtime.config)
                return len(await reorder.on_stock_changed(uow, event))

        raised = await asyncio.gather(*(handle(n) for n in range(8)), return_exceptions=True)
        assert sum(r for r in raised if isinstance(r, int)) == 1, raised
        async with svc.runtime.db.session() as session:
            nut_orders = (
                await session.exec(select(PurchaseOrder).where(PurchaseOrder.reorder_rule_id.is_not(None)))
            ).all()
            rules = {r.sku: r for r in (await session.exec(select(ReorderRule))).all()}
        assert len(nut_orders) == 4 and rules["NUT-8"].open_purchase_order_id in {o.id for o in nut_orders}
        assert rules["NUT-8"].rounds == 1 and rules["BOLT-8"].rounds == 2


async def test_a_privacy_request_exports_or_pseudonymises_supplier_contacts_and_keeps_the_orders(settings):
    async with run_service("procurement", settings) as svc:
        supplier = await register(svc, email="Anna.Berg@lieferant.example")
        other = await register(svc, email="info@other.example")
        priced = [{"sku": "BOLT-8", "quantity": 5, "unit_price": {"amount": "1.00", "currency": "EUR"}}]
        assert (await order(svc, supplier["id"], lines=priced)).status_code == 201
        due = date.today() + timedelta(days=30)
        access = PrivacyRequestOpened(request_id="prq-1", kind="access", email="anna.berg@lieferant.example", due=due)
        erasure = PrivacyRequestOpened(request_id="prq-2", kind="erasure", email="anna.berg@lieferant.example", due=due)
        await svc.deliver(access)
        await svc.deliver(erasure)
        records = await read_all(settings.kafka_bootstrap_servers, settings.topic("procurement"), expect=4)
        answers = {
            e.data["request_id"]: e.data
            for e in (CloudEvent.from_json(r.value) for r in records)
            if e.type == "procurement.privacy_request.answered.v1"
        }
        assert answers["prq-1"]["records"] == 1 and answers["prq-1"]["department"] == "procurement"
        assert answers["prq-1"]["export"]["suppliers"][0]["id"] == supplier["id"]
        assert answers["prq-2"]["pseudonymised"] == 1 and answers["prq-2"]["export"] == {}
        [kept] = answers["prq-2"]["retained"]
        assert kept["what"].startswith("1 purchase order") and "HGB" in kept["why"]
        got = await svc.client.get(f"/api/v1/procurement/suppliers/{supplier['id']}", headers=svc.auth("procurement"))
        assert got.json()["email"].startswith("erased-") and got.json()["email"].endswith("@invalid")
        untouched = await svc.client.get(
            f"/api/v1/procurement/suppliers/{other['id']}", headers=svc.auth("procurement")
        )
        assert untouched.json()["email"] == "info@other.example"
