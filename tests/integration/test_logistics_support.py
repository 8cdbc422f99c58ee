"""Builders and readers shared by the logistics integration tests (no tests of its own)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from hanse.events import CloudEvent
from services.compliance.contract import OrderCleared
from services.finance.contract import InvoicePaid
from services.sales.contract import OrderLine, OrderTerms
from tests.support.kafka import eventually, read_all
from tests.support.service import RunningService


def new_order_id() -> str:
    return f"ord-{uuid.uuid4().hex[:12]}"


def order_terms(
    order_id: str,
    lines: list[tuple[str, int]],
    *,
    payment_terms: str = "net_30",
    incoterm: str = "DAP",
    destination: str = "FR",
    mode: str | None = None,
) -> OrderTerms:
    order_lines = [
        OrderLine(
            sku=sku,
            name=f"Product {sku}",
            quantity=quantity,
            unit_price=Decimal("10.00"),
            hs_code="850110",
            origin_country="DE",
            unit_weight_kg=Decimal("1.250"),
        )
        for sku, quantity in lines
    ]
    subtotal = sum((line.amount for line in order_lines), Decimal(0))
    money = {"amount": str(subtotal), "currency": "EUR"}
    quoted = {"mode": mode} if mode else {}
    return OrderTerms(
        **quoted,
        order_id=order_id,
        quote_id=f"q-{order_id}",
        account_id="acc-1",
        company="Acme Imports",
        email="buyer@acme.example",
        buyer_country=destination,
        destination_country=destination,
        incoterm=incoterm,
        named_place="Port",
        currency="EUR",
        payment_terms=payment_terms,
        lines=order_lines,
        subtotal=money,
        total=money,
        placed_at=datetime.now(UTC),
    )


def cleared(order_id: str, lines: list[tuple[str, int]], **terms) -> OrderCleared:
    return OrderCleared(order_id=order_id, check_id=f"chk-{order_id}", order=order_terms(order_id, lines, **terms))


def invoice_paid(order_id: str) -> InvoicePaid:
    total = {"amount": "30.00", "currency": "EUR"}
    return InvoicePaid(
        invoice_id=f"inv-{uuid.uuid4().hex[:8]}",
        order_id=order_id,
        total=total,
        total_base=total,
        fx_rate="1",
        fx_rate_date=datetime.now(UTC).date(),
    )


async def order_status(svc: RunningService, order_id: str) -> str | None:
    response = await svc.client.get(f"/api/v1/logistics/orders/{order_id}", headers=svc.auth("logistics"))
    return response.json()["status"] if response.status_code == 200 else None


async def wait_status(svc: RunningService, order_id: str, *statuses: str) -> str:
    async def reached() -> str | None:
        status = await order_status(svc, order_id)
        return status if status in statuses else None

    return await eventually(reached, timeout=30)


async def stock(svc: RunningService, sku: str) -> dict:
    response = await svc.client.get(f"/api/v1/logistics/stock/{sku}", headers=svc.auth("logistics"))
    assert response.status_code == 200, response.text
    return response.json()


async def receive(svc: RunningService, sku: str, quantity: int, warehouse: str = "HAM") -> dict:
    response = await svc.client.post(
        "/api/v1/logistics/stock/receipts",
        json={"sku": sku, "warehouse": warehouse, "quantity": quantity},
        headers=svc.auth("logistics"),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def open_warehouse(svc: RunningService, code: str = "HAM", country: str = "DE") -> None:
    response = await svc.client.post(
        "/api/v1/logistics/warehouses",
        json={"code": code, "name": f"Warehouse {code}", "country": country},
        headers=svc.auth("logistics"),
    )
    assert response.status_code == 201, response.text


async def shipments_of(svc: RunningService, order_id: str) -> list[dict]:
    response = await svc.client.get(
        "/api/v1/logistics/shipments", params={"order_id": order_id}, headers=svc.auth("logistics")
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def published(svc: RunningService, expect: int) -> list[CloudEvent]:
    """Every event logistics published so far (waits until at least `expect` arrived)."""
    records = await read_all(svc.settings.kafka_bootstrap_servers, svc.settings.topic("logistics"), expect=expect)
    # Records come partition by partition; the event time restores the order they were published in.
    return sorted((CloudEvent.from_json(r.value) for r in records), key=lambda e: e.time)


def of_type(events: list[CloudEvent], suffix: str, order_id: str | None = None) -> list[CloudEvent]:
    return [
        e
        for e in events
        if e.type == f"logistics.{suffix}.v1" and (order_id is None or e.data.get("order_id") == order_id)
    ]
