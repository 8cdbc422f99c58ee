"""Helpers for walking the order flow through the gateway: a client, set-up steps, waits, events."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import orjson

from tests.e2e.conftest import Platform
from tests.support.kafka import read_all

DEPARTMENTS = ("marketing", "sales", "compliance", "finance", "logistics")


def unique(prefix: str) -> str:
    """A name no other test (or earlier run on the same platform) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


class Gateway:
    """An admin's client of the gateway API (`/api/v1/...`)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.client = httpx.AsyncClient(
            base_url=f"{platform.gateway}/api/v1",
            headers={"Authorization": f"Bearer {platform.token()}"},
            timeout=30,
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def call(self, method: str, path: str, expect: int | None = None, **kwargs: Any) -> httpx.Response:
        response = await self.client.request(method, path, **kwargs)
        if expect is not None:
            assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response

    async def get(self, path: str, expect: int = 200, **kwargs: Any) -> Any:
        return (await self.call("GET", path, expect, **kwargs)).json()

    async def post(self, path: str, body: Any = None, expect: int = 201, **kwargs: Any) -> Any:
        response = await self.call("POST", path, expect, json=body, **kwargs)
        return response.json() if response.content else None

    async def items(self, path: str, **params: Any) -> list[dict]:
        return (await self.get(path, params=params))["items"]

    # -- set-up steps of the golden path ---------------------------------------------------------

    async def stocked_product(
        self, quantity: int, *, price: str = "100.00", weight: str = "12.5", warehouse: str | None = None
    ) -> tuple[str, str]:
        """A warehouse, a product and (if quantity > 0) a stock receipt; returns (sku, warehouse)."""
        code = warehouse or unique("WH")
        if warehouse is None:
            await self.post("/logistics/warehouses", {"code": code, "name": "Hamburg", "country": "DE"})
        sku = unique("PUMP")
        await self.post(
            "/sales/products",
            {
                "sku": sku,
                "name": "Centrifugal pump",
                "hs_code": "8413.70",
                "origin_country": "DE",
                "unit_price": {"amount": price, "currency": "EUR"},
                "unit_weight_kg": weight,
            },
        )
        if quantity:
            await self.receive(sku, code, quantity)
        return sku, code

    async def receive(self, sku: str, warehouse: str, quantity: int) -> dict:
        return await self.post("/logistics/stock/receipts", {"sku": sku, "warehouse": warehouse, "quantity": quantity})

    async def account(
        self, company: str, *, country: str = "FR", currency: str = "EUR", payment_terms: str = "net_30"
    ) -> str:
        body = {
            "company": company,
            "country": country,
            "email": "buyer@example.com",
            "currency": currency,
            "payment_terms": payment_terms,
        }
        return (await self.post("/sales/accounts", body))["id"]

    async def quote(
        self,
        account_id: str,
        sku: str,
        quantity: int,
        *,
        incoterm: str = "DAP",
        destination: str = "FR",
        currency: str = "EUR",
        named_place: str = "Lyon",
    ) -> dict:
        body = {
            "account_id": account_id,
            "currency": currency,
            "incoterm": incoterm,
            "named_place": named_place,
            "destination_country": destination,
            "lines": [{"sku": sku, "quantity": quantity}],
        }
        return await self.post("/sales/quotes", body)

    async def place_order(self, account_id: str, sku: str, quantity: int, **quote_terms: Any) -> dict:
        quote = await self.quote(account_id, sku, quantity, **quote_terms)
        order = await self.post(f"/sales/quotes/{quote['id']}/accept")
        assert order["status"] == "placed"
        return order

    # -- reading the outcome of asynchronous steps -----------------------------------------------

    async def order(self, order_id: str) -> dict:
        return await self.get(f"/sales/orders/{order_id}")

    async def order_reaches(self, order_id: str, *statuses: str, timeout: float = 45) -> dict:
        """Poll the order until its status is one of `statuses`; fail naming its history."""
        deadline = time.monotonic() + timeout
        order: dict = {}
        while time.monotonic() < deadline:
            order = await self.order(order_id)
            if order["status"] in statuses:
                return order
            await asyncio.sleep(0.2)
        history = [(h["previous_status"], h["status"], h["reason"]) for h in order.get("history", [])]
        raise AssertionError(f"order {order_id} is {order.get('status')!r}, not {statuses}; history {history}")

    async def stock(self, sku: str) -> dict:
        return await self.get(f"/logistics/stock/{sku}")

    async def invoices(self, order_id: str) -> list[dict]:
        return await self.items("/finance/invoices", order_id=order_id)

    async def shipments(self, order_id: str) -> list[dict]:
        return await self.items("/logistics/shipments", order_id=order_id)

    async def documents_ready(self, shipment_id: str) -> None:
        """Logistics refuses the pick-up while a document compliance requires is missing (issue 14):
        the commercial invoice follows the booking through finance, so wait until every one exists."""

        async def ready():
            docs = await self.items(f"/logistics/shipments/{shipment_id}/documents")
            return all(d["exists"] for d in docs) or None

        await self.eventually(ready, "the documents compliance requires exist")

    async def eventually(self, check, what: str, timeout: float = 45) -> Any:
        """Await `check()` until it returns something truthy; fail saying what did not happen."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = await check()
            if last:
                return last
            await asyncio.sleep(0.2)
        raise AssertionError(f"{what} did not happen within {timeout}s (last: {last!r})")


def statuses(order: dict) -> list[str]:
    """The order's path through its life cycle, from its history."""
    return [h["status"] for h in order["history"]]


async def flow_events(platform: Platform, correlation_id: str) -> list[dict]:
    """Every event on the department topics that belongs to one business flow, in time order."""
    topics = await asyncio.gather(
        *(read_all(platform.bootstrap, f"hanse.{dept}", expect=1, timeout=10) for dept in DEPARTMENTS)
    )
    events = []
    for record in (r for records in topics for r in records):
        try:
            events.append(orjson.loads(record.value))
        except orjson.JSONDecodeError:  # a poison message another test sent on purpose
            continue
    mine = [e for e in events if e.get("correlationid") == correlation_id]
    return sorted(mine, key=lambda e: e["time"])
