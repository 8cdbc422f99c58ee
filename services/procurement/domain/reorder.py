"""Reorder rules: logistics' stock events raise ONE draft purchase order per shortage of a rule.

The rule row is the lock: it is read FOR UPDATE (PostgreSQL; SQLite's BEGIN IMMEDIATE serialises
writers) and names the open purchase order it raised; while that order is open, later stock
events about the same SKU and warehouse raise nothing. A unique (rule, round) constraint on the
purchase order backs the lock: a racer that got past it fails on insert and is retried.
"""

from __future__ import annotations

import logging

from sqlmodel import col, select

from hanse.db import upsert
from hanse.errors import Conflict, Invalid
from hanse.events import utcnow
from hanse.ids import new_id
from services.logistics.contract import StockLevel, StockReceived, StockReleased, StockReserved, StockShort
from services.procurement.config import UoW
from services.procurement.domain import purchase_orders
from services.procurement.domain.rules import below_minimum, reorder_quantity
from services.procurement.models import (
    MAX_QUANTITY,
    KnownWarehouse,
    LineIn,
    PurchaseOrder,
    PurchaseOrderCreate,
    ReorderRule,
    ReorderRuleIn,
    Supplier,
    SupplierPrice,
)

log = logging.getLogger("hanse.procurement")

StockEvent = StockReceived | StockReserved | StockShort | StockReleased


async def learn_warehouses(uow: UoW, codes: set[str]) -> None:
    """Remember warehouses logistics named: a reorder rule may only name one of them."""
    if not codes:
        return
    session = uow.session
    for code in sorted({c.strip().upper() for c in codes if 0 < len(c.strip()) <= 32}):
        await session.exec(
            upsert(session, KnownWarehouse.__table__).values(code=code, first_seen=utcnow()).on_conflict_do_nothing()  # type: ignore[arg-type]
        )


async def put_rule(uow: UoW, sku: str, data: ReorderRuleIn) -> ReorderRule:
    session = uow.session
    if await session.get(KnownWarehouse, data.warehouse) is None:
        raise Invalid(f"unknown warehouse {data.warehouse}: logistics has not reported stock in it", field="warehouse")
    supplier = await session.get(Supplier, data.supplier_id)
    if supplier is None:
        raise Invalid(f"no supplier {data.supplier_id}", field="supplier_id")
    query = (
        select(ReorderRule)
        .where(ReorderRule.sku == sku, ReorderRule.warehouse == data.warehouse)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    rule = (await session.exec(query)).first()
    if rule is None:
        rule = ReorderRule(id=new_id("rr"), sku=sku, **data.model_dump())
    else:
        rule.min_available = data.min_available
        rule.reorder_quantity = data.reorder_quantity
        rule.supplier_id = data.supplier_id
    rule.updated_at = utcnow()
    session.add(rule)
    await session.flush()
    return rule


def _shortages(event: StockEvent) -> tuple[dict[tuple[str, str], StockLevel], dict[str, int]]:
    """What the event tells: levels per (sku, warehouse), and back-ordered shortfall per SKU."""
    levels = {(level.sku, level.warehouse): level for level in event.levels}
    short: dict[str, int] = {}
    if isinstance(event, StockShort):
        for line in event.lines:
            short[line.sku] = short.get(line.sku, 0) + max(line.requested - line.available, 0)
    return levels, short


async def on_stock_changed(uow: UoW, event: StockEvent) -> list[PurchaseOrder]:
    """Raise a draft purchase order for every rule whose stock fell below its minimum or whose SKU
    was back-ordered, unless the rule already has an open one. Returns the orders raised."""
    levels, short = _shortages(event)
    warehouses = {warehouse for _, warehouse in levels}
    if isinstance(event, StockReceived):
        warehouses.add(event.warehouse)
    if isinstance(event, StockReserved | StockReleased):
        warehouses.update(line.warehouse for line in event.lines)
    await learn_warehouses(uow, warehouses)
    skus = {sku for sku, _ in levels} | set(short)
    if not skus:
        return []
    rules = (
        await uow.session.exec(
            select(ReorderRule)
            .where(col(ReorderRule.sku).in_(sorted(skus)))
            .order_by(col(ReorderRule.sku), col(ReorderRule.warehouse))  # one lock order for every racer
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    raised: list[PurchaseOrder] = []
    handled_short: set[str] = set()
    for rule in rules:
        level = levels.get((rule.sku, rule.warehouse))
        shortfall = 0
        if rule.sku in short and rule.sku not in handled_short:
            # A back-order names no warehouse: the rule of a warehouse the event reports, else the first rule.
            reported = {w for s, w in levels if s == rule.sku}
            if not reported or rule.warehouse in reported:
                shortfall = short[rule.sku]
                handled_short.add(rule.sku)
        low = level is not None and below_minimum(level.available, rule.min_available)
        if not (low or shortfall):
            continue
        if rule.open_purchase_order_id is not None:
            continue  # this shortage already has its purchase order
        order = await _raise(uow, rule, shortfall)
        if order is not None:
            raised.append(order)
    return raised


async def _raise(uow: UoW, rule: ReorderRule, shortfall: int) -> PurchaseOrder | None:
    session = uow.session
    supplier = await session.get(Supplier, rule.supplier_id)
    if supplier is None or supplier.status == "blocked":
        log.warning("reorder rule %s: supplier %s is missing or blocked, no purchase order", rule.id, rule.supplier_id)
        return None
    price = await session.get(SupplierPrice, (supplier.id, rule.sku))
    quantity = min(reorder_quantity(rule.reorder_quantity, shortfall, price.moq if price else 1), MAX_QUANTITY)
    rule.rounds += 1
    request = PurchaseOrderCreate(
        supplier_id=supplier.id,
        warehouse=rule.warehouse,
        currency=supplier.currency,
        incoterm=uow.config.default_incoterm,
        lines=[LineIn(sku=rule.sku, quantity=quantity)],
    )
    try:
        order = await purchase_orders.draft(uow, request, by=f"reorder-rule:{rule.id}", reorder_rule=rule)
    except (Invalid, Conflict) as exc:  # e.g. a supplier currency without an ECB rate: nothing to retry
        rule.rounds -= 1
        log.warning("reorder rule %s: no purchase order raised: %s", rule.id, exc.detail)
        return None
    rule.open_purchase_order_id = order.id
    session.add(rule)
    await session.flush()
    log.info("reorder rule %s raised %s for %s units of %s", rule.id, order.number, quantity, rule.sku)
    return order
