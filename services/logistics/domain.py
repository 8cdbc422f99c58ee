"""Business rules of logistics: freight rates, stock allocation, reservations, shipments, tracking."""

from __future__ import annotations

import csv
import json
import re
import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse import outbox
from hanse.errors import Conflict, Invalid, NotFound
from hanse.events import CloudEvent, EventPayload, utcnow
from hanse.ids import new_id
from hanse.money import FxRate, Money, convert, round_money
from hanse.settings import Settings
from services.logistics.contract import (
    ReservedLine,
    ShipmentBooked,
    ShipmentCancelled,
    ShipmentDelivered,
    ShipmentDispatched,
    ShipmentTracked,
    ShortLine,
    StockReceived,
    StockReleased,
    StockReserved,
    StockShort,
)
from services.logistics.models import (
    SKU_PATTERN,
    FulfilmentOrder,
    FulfilmentPublic,
    MilestonePublic,
    OrderLineWanted,
    RateQuotePublic,
    RateRequest,
    ReceiptCreate,
    ReceiptPublic,
    Reservation,
    Shipment,
    ShipmentPublic,
    StockLevel,
    StockPublic,
    StockReceipt,
    TrackingCreate,
    TrackingMilestone,
    TrackingPublic,
    WantedLine,
    Warehouse,
    WarehouseCreate,
    WarehouseStock,
)
from services.sales.contract import OrderLine, OrderTerms

DATA = Path(__file__).parent / "data"
TARIFF_CURRENCY = "EUR"
KG = Decimal("0.001")

# ==================================================================================================
# Pure rules (unit-tested without I/O)
# ==================================================================================================

# -- freight ---------------------------------------------------------------------------------------

# Kilograms charged per cubic metre: air 1e6/6000, courier 1e6/5000 (IATA divisors), sea 1 m³ = 1 t,
# road 333 kg/m³ (the common European groupage ratio, 1 loading metre ≈ 1,850 kg).
VOLUMETRIC_KG_PER_M3: dict[str, Decimal] = {
    "air": Decimal(1_000_000) / Decimal(6000),
    "courier": Decimal(1_000_000) / Decimal(5000),
    "sea": Decimal(1000),
    "road": Decimal(333),
}
NEAR_ZONES = frozenset({"domestic", "eu"})
SEA_ONLY_INCOTERMS = frozenset({"FAS", "FOB", "CFR", "CIF"})
CARRIERS: dict[str, tuple[str, str]] = {
    "sea": ("Hapag-Lloyd", "HLCU"),
    "air": ("Lufthansa Cargo", "LHCG"),
    "courier": ("DHL Express", "DHLX"),
    "road": ("DB Schenker", "DBSK"),
}


@dataclass(frozen=True)
class Tariff:
    rate_per_kg: Decimal
    minimum_charge: Decimal


@dataclass(frozen=True)
class FreightPrice:
    mode: str
    zone: str
    actual_weight_kg: Decimal
    volumetric_weight_kg: Decimal
    chargeable_weight_kg: Decimal
    tariff: Tariff
    price: Decimal  # in TARIFF_CURRENCY


@lru_cache(maxsize=1)
def rate_table() -> dict[tuple[str, str], Tariff]:
    """The shipped tariff (data/freight_rates.csv): EUR per chargeable kg and a minimum per shipment."""
    with (DATA / "freight_rates.csv").open(newline="") as f:
        return {
            (row["mode"], row["zone"]): Tariff(Decimal(row["rate_per_kg_eur"]), Decimal(row["minimum_charge_eur"]))
            for row in csv.DictReader(f)
        }


@lru_cache(maxsize=1)
def zone_table() -> dict[str, str]:
    """Country → freight zone (data/zones.json)."""
    raw = json.loads((DATA / "zones.json").read_text())
    return {country: zone for zone, countries in raw.items() if not zone.startswith("_") for country in countries}


def freight_zone(origin_country: str, destination_country: str, zones: Mapping[str, str] | None = None) -> str:
    if origin_country == destination_country:
        return "domestic"
    return (zones if zones is not None else zone_table()).get(destination_country, "rest_of_world")


def volumetric_weight_kg(mode: str, volume_m3: Decimal) -> Decimal:
    return (volume_m3 * VOLUMETRIC_KG_PER_M3[mode]).quantize(KG, rounding=ROUND_HALF_UP)


def price_freight(
    mode: str,
    origin_country: str,
    destination_country: str,
    weight_kg: Decimal,
    volume_m3: Decimal = Decimal(0),
    *,
    rates: Mapping[tuple[str, str], Tariff] | None = None,
    zones: Mapping[str, str] | None = None,
) -> FreightPrice:
    """Chargeable weight = max(actual, volumetric); price = max(weight × rate, minimum charge)."""
    if weight_kg <= 0:
        raise Invalid("weight_kg must be greater than 0", field="weight_kg")
    if volume_m3 < 0:
        raise Invalid("volume_m3 must not be negative", field="volume_m3")
    zone = freight_zone(origin_country, destination_country, zones)
    tariff = (rates if rates is not None else rate_table()).get((mode, zone))
    if tariff is None:
        raise Invalid(f"{mode} freight is not offered to zone {zone}", field="mode", zone=zone)
    actual = weight_kg.quantize(KG, rounding=ROUND_HALF_UP)
    volumetric = volumetric_weight_kg(mode, volume_m3)
    chargeable = max(actual, volumetric)
    price = round_money(max(chargeable * tariff.rate_per_kg, tariff.minimum_charge), TARIFF_CURRENCY)
    return FreightPrice(mode, zone, actual, volumetric, chargeable, tariff, price)


def transport_mode(incoterm: str | None, zone: str, quoted: str | None = None) -> str:
    """Sea-only Incoterms go by sea; else the quoted mode; else road at home and in the EU, air beyond."""
    if (incoterm or "").upper() in SEA_ONLY_INCOTERMS:
        return "sea"
    if quoted in CARRIERS:
        return quoted
    return "road" if zone in NEAR_ZONES else "air"


def carrier_for(mode: str) -> str:
    return CARRIERS[mode][0]


def new_tracking_number(mode: str) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return CARRIERS[mode][1] + "".join(secrets.choice(alphabet) for _ in range(12))


# -- stock allocation ------------------------------------------------------------------------------

_SKU = re.compile(SKU_PATTERN)


@dataclass(frozen=True)
class Allocation:
    """All lines reserved, or (when anything is short) nothing reserved and the short lines."""

    reserved: list[ReservedLine]
    short: list[ShortLine]

    @property
    def complete(self) -> bool:
        return not self.short


def wanted_quantities(lines: Iterable[OrderLine]) -> dict[str, int]:
    """Units wanted per SKU (lines of one SKU summed); a malformed line raises ValueError."""
    wanted: dict[str, int] = {}
    for i, line in enumerate(lines):
        if not _SKU.match(line.sku):
            raise ValueError(f"lines.{i}.sku {line.sku!r} is not a SKU")
        if line.quantity <= 0:
            raise ValueError(f"lines.{i}.quantity must be greater than 0")
        wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
    if not wanted:
        raise ValueError("the order has no lines")
    return dict(sorted(wanted.items()))


def allocate(wanted: Mapping[str, int], available: Mapping[tuple[str, str], int]) -> Allocation:
    """All-or-nothing: take each SKU from the fullest warehouse first (one parcel when one suffices)."""
    reserved: list[ReservedLine] = []
    short: list[ShortLine] = []
    for sku in sorted(wanted):
        need = wanted[sku]
        stocks = sorted(
            ((warehouse, units) for (s, warehouse), units in available.items() if s == sku and units > 0),
            key=lambda ws: (-ws[1], ws[0]),
        )
        total = sum(units for _, units in stocks)
        if total < need:
            short.append(ShortLine(sku=sku, requested=need, available=total))
            continue
        for warehouse, units in stocks:
            take = min(units, need)
            reserved.append(ReservedLine(sku=sku, warehouse=warehouse, quantity=take))
            need -= take
            if need == 0:
                break
    return Allocation(reserved=[] if short else reserved, short=short)


def order_weight_kg(lines: Iterable[OrderLine]) -> Decimal:
    return sum((line.unit_weight_kg * line.quantity for line in lines), Decimal(0)).quantize(KG)


# -- shipment state machine ------------------------------------------------------------------------

# A milestone that proves the goods left the warehouse; customs_cleared and exception do not
# (export clearance can happen before pick-up).
LEAVES_WAREHOUSE = frozenset({"picked_up", "in_transit", "out_for_delivery", "delivered"})


@dataclass(frozen=True)
class MilestoneEffect:
    status: str
    dispatches: bool
    delivers: bool


def apply_milestone(shipment_status: str, milestone: str) -> MilestoneEffect:
    """booked → in_transit (first milestone that leaves the warehouse) → delivered; never backwards."""
    if shipment_status == "cancelled":
        raise Conflict("the shipment was cancelled; it takes no milestones", field="status")
    if shipment_status == "delivered":
        raise Conflict("the shipment was delivered; it takes no further milestones", field="status")
    dispatches = shipment_status == "booked" and milestone in LEAVES_WAREHOUSE
    delivers = milestone == "delivered"
    status = "delivered" if delivers else ("in_transit" if dispatches else shipment_status)
    return MilestoneEffect(status=status, dispatches=dispatches, delivers=delivers)


# ==================================================================================================
# Rules that need the database (each runs inside the caller's transaction; the caller commits)
# ==================================================================================================


@dataclass
class Txn:
    """The transaction a rule runs in, and the event that caused it (None for an HTTP request)."""

    session: AsyncSession
    settings: Settings
    cause: CloudEvent | None = None

    async def publish(self, payload: EventPayload, *, order_id: str | None = None) -> None:
        # Order events always correlate to their own order, even when another order's cancel caused them.
        await outbox.publish(self.session, payload, cause=self.cause, correlation_id=order_id, settings=self.settings)


# -- warehouses ------------------------------------------------------------------------------------


async def create_warehouse(session: AsyncSession, body: WarehouseCreate) -> Warehouse:
    if await _warehouse(session, body.code) is not None:
        raise Conflict(f"warehouse {body.code} exists", field="code")
    warehouse = Warehouse(id=new_id("wh"), code=body.code, name=body.name, country=body.country, created_at=utcnow())
    session.add(warehouse)
    try:
        await session.flush()
    except IntegrityError:
        # Another request created the same code between our check and our insert.
        raise Conflict(f"warehouse {body.code} exists", field="code") from None
    return warehouse


async def _warehouse(session: AsyncSession, code: str) -> Warehouse | None:
    return (await session.exec(select(Warehouse).where(Warehouse.code == code))).first()


async def get_warehouse(session: AsyncSession, code: str) -> Warehouse:
    warehouse = await _warehouse(session, code.upper())
    if warehouse is None:
        raise NotFound(f"no warehouse {code}", field="code")
    return warehouse


# -- locks -----------------------------------------------------------------------------------------
# Lock order, everywhere: the order's fulfilment row → its shipment → stock rows sorted by
# (sku, warehouse) in one statement → fulfilment rows of back-orders being filled. On SQLite the
# whole transaction is already serialised (BEGIN IMMEDIATE); FOR UPDATE compiles to nothing there.


async def lock_stock(session: AsyncSession, skus: Iterable[str]) -> dict[tuple[str, str], StockLevel]:
    skus = sorted(set(skus))
    if not skus:
        return {}
    query = (
        select(StockLevel)
        .where(col(StockLevel.sku).in_(skus))
        .order_by(col(StockLevel.sku), col(StockLevel.warehouse))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {(row.sku, row.warehouse): row for row in (await session.exec(query)).all()}


async def lock_order(session: AsyncSession, order_id: str) -> FulfilmentOrder | None:
    query = (
        select(FulfilmentOrder)
        .where(FulfilmentOrder.order_id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.exec(query)).first()


async def _lock_shipment(session: AsyncSession, **where: str) -> Shipment | None:
    query = select(Shipment).with_for_update().execution_options(populate_existing=True)
    for name, value in where.items():
        query = query.where(getattr(Shipment, name) == value)
    return (await session.exec(query)).first()


def _available(stock: Mapping[tuple[str, str], StockLevel]) -> dict[tuple[str, str], int]:
    return {key: row.on_hand - row.reserved for key, row in stock.items()}


async def _wanted(session: AsyncSession, order_ids: Iterable[str]) -> dict[str, dict[str, int]]:
    ids = list(order_ids)
    wanted: dict[str, dict[str, int]] = {order_id: {} for order_id in ids}
    if ids:
        rows = await session.exec(select(OrderLineWanted).where(col(OrderLineWanted.order_id).in_(ids)))
        for line in rows.all():
            wanted[line.order_id][line.sku] = line.quantity
    return wanted


async def _backorders_needing(session: AsyncSession, skus: Iterable[str]) -> list[FulfilmentOrder]:
    """Back-ordered orders that want any of `skus`, first come first served."""
    needing = select(OrderLineWanted.order_id).where(col(OrderLineWanted.sku).in_(sorted(set(skus))))
    query = (
        select(FulfilmentOrder)
        .where(FulfilmentOrder.status == "backordered", col(FulfilmentOrder.order_id).in_(needing))
        .order_by(col(FulfilmentOrder.backordered_at), col(FulfilmentOrder.order_id))
    )
    return list((await session.exec(query)).all())


async def _ensure_stock_row(session: AsyncSession, sku: str, warehouse: str) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(StockLevel)
        .values(sku=sku, warehouse=warehouse, on_hand=0, reserved=0)
        .on_conflict_do_nothing(index_elements=["sku", "warehouse"])
    )
    await session.exec(statement)


# -- reservations ----------------------------------------------------------------------------------


def _hold(stock: Mapping[tuple[str, str], StockLevel], lines: Iterable[ReservedLine], available: dict) -> None:
    for line in lines:
        row = stock[(line.sku, line.warehouse)]
        row.reserved += line.quantity
        available[(line.sku, line.warehouse)] -= line.quantity


async def _reserve(txn: Txn, order: FulfilmentOrder, lines: list[ReservedLine], *, from_backorder: bool) -> None:
    for line in lines:
        txn.session.add(
            Reservation(order_id=order.order_id, sku=line.sku, warehouse=line.warehouse, quantity=line.quantity)
        )
    order.status = "reserved"
    order.reserved_at = utcnow()
    txn.session.add(order)
    await txn.publish(
        StockReserved(order_id=order.order_id, lines=lines, from_backorder=from_backorder), order_id=order.order_id
    )
    await book_shipment_if_ready(txn, order)


async def reserve_cleared_order(txn: Txn, terms: OrderTerms) -> str:
    """On clearance reserve every line or nothing (back-order); returns what happened."""
    session = txn.session
    order = await lock_order(session, terms.order_id)
    if order is not None and (order.cleared or order.status in ("cancelled", "rejected")):
        return "ignored"  # cleared twice, or the cancel/rejection overtook the clearance (tombstone)
    wanted = wanted_quantities(terms.lines)
    if order is None:
        order = FulfilmentOrder(order_id=terms.order_id, status="pending")
    order.cleared = True
    order.cleared_at = utcnow()
    order.payment_terms = terms.payment_terms
    order.incoterm = terms.incoterm.upper()
    order.destination_country = terms.destination_country.upper()
    order.weight_kg = order_weight_kg(terms.lines)
    quoted = getattr(terms, "mode", None)  # optional in sales' OrderTerms
    order.quoted_mode = quoted if quoted in CARRIERS else None
    session.add(order)
    for sku, quantity in wanted.items():
        session.add(OrderLineWanted(order_id=order.order_id, sku=sku, quantity=quantity))
    await session.flush()

    stock = await lock_stock(session, wanted)
    available = _available(stock)
    allocation = allocate(wanted, available)
    if allocation.complete:
        _hold(stock, allocation.reserved, available)
        await _reserve(txn, order, allocation.reserved, from_backorder=False)
        return "reserved"
    order.status = "backordered"
    order.backordered_at = utcnow()
    await txn.publish(StockShort(order_id=order.order_id, lines=allocation.short), order_id=order.order_id)
    return "backordered"


async def _fill_backorders(
    txn: Txn,
    candidates: list[FulfilmentOrder],
    stock: dict[tuple[str, str], StockLevel],
    trigger_skus: set[str],
) -> list[str]:
    """Reserve back-orders FCFS; one that still cannot be filled keeps its place, later ones may fit."""
    session = txn.session
    # A back-order recorded after we read the candidates (its transaction held our stock rows) joins
    # in its FCFS place; it may want SKUs we hold no lock on yet, so lock those too (sorted).
    latest = await _backorders_needing(session, trigger_skus)
    known = {order.order_id for order in candidates}
    candidates = [*candidates, *(order for order in latest if order.order_id not in known)]
    candidates.sort(key=lambda o: (o.backordered_at or utcnow(), o.order_id))
    wanted = await _wanted(session, (order.order_id for order in candidates))
    missing = {sku for lines in wanted.values() for sku in lines} - {sku for sku, _ in stock}
    if missing:
        stock.update(await lock_stock(session, missing))
    available = _available(stock)
    filled: list[str] = []
    for candidate in candidates:
        order = await lock_order(session, candidate.order_id)
        if order is None or order.status != "backordered":
            continue  # cancelled, or filled by another transaction, since we read it
        allocation = allocate(wanted[order.order_id], available)
        if not allocation.complete:
            continue
        _hold(stock, allocation.reserved, available)
        await _reserve(txn, order, allocation.reserved, from_backorder=True)
        filled.append(order.order_id)
    return filled


async def receive_stock(txn: Txn, body: ReceiptCreate) -> ReceiptPublic:
    """Book units into a warehouse and, in the same transaction, fill back-orders that now fit."""
    session = txn.session
    warehouse = await _warehouse(session, body.warehouse.upper())
    if warehouse is None:
        raise Invalid(f"no warehouse {body.warehouse}", field="warehouse")
    await _ensure_stock_row(session, body.sku, warehouse.code)
    candidates = await _backorders_needing(session, {body.sku})
    wanted = await _wanted(session, (order.order_id for order in candidates))
    stock = await lock_stock(session, {body.sku} | {sku for lines in wanted.values() for sku in lines})
    stock[(body.sku, warehouse.code)].on_hand += body.quantity
    receipt = StockReceipt(
        id=new_id("rcp"), sku=body.sku, warehouse=warehouse.code, quantity=body.quantity, received_at=utcnow()
    )
    session.add(receipt)
    await txn.publish(
        StockReceived(receipt_id=receipt.id, sku=receipt.sku, warehouse=receipt.warehouse, quantity=receipt.quantity)
    )
    filled = await _fill_backorders(txn, candidates, stock, {body.sku})
    return ReceiptPublic(
        id=receipt.id,
        sku=receipt.sku,
        warehouse=receipt.warehouse,
        quantity=receipt.quantity,
        received_at=receipt.received_at,
        backorders_filled=filled,
    )


async def close_order(txn: Txn, order_id: str, outcome: str, reason: str | None) -> str:
    """Cancel or reject: release reservations (and a booked shipment), drop a back-order, or leave a tombstone."""
    session = txn.session
    now = utcnow()
    why = f"{outcome}: {reason}" if reason else outcome
    order = await lock_order(session, order_id)
    if order is None:
        session.add(FulfilmentOrder(order_id=order_id, status=outcome, closed_at=now, closed_reason=why))
        return "tombstone"
    if order.status in ("cancelled", "rejected", "dispatched"):
        return "ignored"  # closed already; after dispatch sales refuses a cancel
    previous = order.status
    order.status, order.closed_at, order.closed_reason = outcome, now, why
    session.add(order)
    if previous != "reserved":
        return "dropped"  # pending or back-ordered: nothing is held

    shipment = await _lock_shipment(session, order_id=order_id)
    if shipment is not None and shipment.status == "booked":
        shipment.status, shipment.cancelled_at = "cancelled", now
        session.add(shipment)
        await txn.publish(ShipmentCancelled(shipment_id=shipment.id, order_id=order_id, reason=why), order_id=order_id)
    held = list((await session.exec(select(Reservation).where(Reservation.order_id == order_id))).all())
    skus = {line.sku for line in held}
    candidates = [c for c in await _backorders_needing(session, skus) if c.order_id != order_id]
    wanted = await _wanted(session, (c.order_id for c in candidates))
    stock = await lock_stock(session, skus | {sku for lines in wanted.values() for sku in lines})
    released = [ReservedLine(sku=r.sku, warehouse=r.warehouse, quantity=r.quantity) for r in held]
    for line in released:
        stock[(line.sku, line.warehouse)].reserved -= line.quantity
    await txn.publish(StockReleased(order_id=order_id, lines=released, reason=why), order_id=order_id)
    # Released units are stock arriving for everyone else: fill back-orders with them, FCFS.
    await _fill_backorders(txn, candidates, stock, skus)
    return "released"


async def record_invoice_paid(txn: Txn, order_id: str) -> str:
    order = await lock_order(txn.session, order_id)
    if order is None:
        # Payment overtook the clearance: remember it for when the order is cleared.
        txn.session.add(FulfilmentOrder(order_id=order_id, status="pending", invoice_paid=True))
        return "remembered"
    if order.invoice_paid or order.status in ("cancelled", "rejected"):
        return "ignored"
    order.invoice_paid = True
    txn.session.add(order)
    booked = await book_shipment_if_ready(txn, order)
    return "booked" if booked else "recorded"


# -- shipments -------------------------------------------------------------------------------------


async def book_shipment_if_ready(txn: Txn, order: FulfilmentOrder) -> Shipment | None:
    """Book once the stock is reserved and the payment terms allow it (prepaid: after invoice.paid)."""
    if order.status != "reserved" or not order.cleared:
        return None
    if order.payment_terms == "prepaid" and not order.invoice_paid:
        return None
    session = txn.session
    if (await session.exec(select(Shipment.id).where(Shipment.order_id == order.order_id))).first():
        return None  # booked exactly once per order
    destination = order.destination_country or txn.settings.seller_country
    mode = transport_mode(order.incoterm, freight_zone(txn.settings.seller_country, destination), order.quoted_mode)
    shipment = Shipment(
        id=new_id("shp"),
        order_id=order.order_id,
        status="booked",
        carrier=carrier_for(mode),
        mode=mode,
        tracking_number=new_tracking_number(mode),
        destination_country=destination,
        weight_kg=order.weight_kg,
        booked_at=utcnow(),
    )
    session.add(shipment)
    await txn.publish(
        ShipmentBooked(
            shipment_id=shipment.id,
            order_id=shipment.order_id,
            carrier=shipment.carrier,
            mode=shipment.mode,  # type: ignore[arg-type]
            tracking_number=shipment.tracking_number,
        ),
        order_id=order.order_id,
    )
    return shipment


async def record_milestone(txn: Txn, shipment_id: str, body: TrackingCreate) -> TrackingPublic:
    """A carrier milestone; the first that leaves the warehouse dispatches (stock leaves on_hand)."""
    session = txn.session
    found = await session.get(Shipment, shipment_id)
    if found is None:
        raise NotFound(f"no shipment {shipment_id}", field="shipment_id")
    order = await lock_order(session, found.order_id)
    shipment = await _lock_shipment(session, id=shipment_id)
    assert shipment is not None  # shipments are never deleted
    effect = apply_milestone(shipment.status, body.status)
    at = body.at.astimezone(UTC) if body.at else utcnow()
    milestone = TrackingMilestone(
        id=new_id("trk"),
        shipment_id=shipment.id,
        status=body.status,
        location=body.location,
        at=at,
        recorded_at=utcnow(),
    )
    session.add(milestone)
    order_id = shipment.order_id
    await txn.publish(
        ShipmentTracked(shipment_id=shipment.id, order_id=order_id, status=body.status, location=body.location, at=at),
        order_id=order_id,
    )
    if effect.dispatches:
        await _consume_reservation(session, order)
        shipment.dispatched_at = at
        await txn.publish(ShipmentDispatched(shipment_id=shipment.id, order_id=order_id, at=at), order_id=order_id)
    if effect.delivers:
        shipment.delivered_at = at
        await txn.publish(ShipmentDelivered(shipment_id=shipment.id, order_id=order_id, at=at), order_id=order_id)
    shipment.status = effect.status
    session.add(shipment)
    return TrackingPublic(
        id=milestone.id,
        shipment_id=shipment.id,
        status=body.status,
        location=body.location,
        at=at,
        shipment_status=shipment.status,  # type: ignore[arg-type]
    )


async def _consume_reservation(session: AsyncSession, order: FulfilmentOrder | None) -> None:
    """The goods left: reserved units leave on_hand too."""
    if order is None or order.status != "reserved":
        return
    held = list((await session.exec(select(Reservation).where(Reservation.order_id == order.order_id))).all())
    stock = await lock_stock(session, {line.sku for line in held})
    for line in held:
        row = stock[(line.sku, line.warehouse)]
        row.on_hand -= line.quantity
        row.reserved -= line.quantity
    order.status = "dispatched"
    session.add(order)


# -- reads -----------------------------------------------------------------------------------------


async def stock_of(session: AsyncSession, sku: str) -> StockPublic:
    rows = (
        await session.exec(select(StockLevel).where(StockLevel.sku == sku).order_by(col(StockLevel.warehouse)))
    ).all()
    if not rows:
        raise NotFound(f"no stock of {sku} was ever received", field="sku")
    per_warehouse = [
        WarehouseStock(warehouse=r.warehouse, on_hand=r.on_hand, reserved=r.reserved, available=r.on_hand - r.reserved)
        for r in rows
    ]
    on_hand = sum(w.on_hand for w in per_warehouse)
    reserved = sum(w.reserved for w in per_warehouse)
    return StockPublic(
        sku=sku, on_hand=on_hand, reserved=reserved, available=on_hand - reserved, warehouses=per_warehouse
    )


async def fulfilment_of(session: AsyncSession, order_id: str) -> FulfilmentPublic:
    order = await session.get(FulfilmentOrder, order_id)
    if order is None:
        raise NotFound(f"logistics knows no order {order_id}", field="order_id")
    wanted = (await _wanted(session, [order_id]))[order_id]
    held = (await session.exec(select(Reservation).where(Reservation.order_id == order_id))).all()
    shipment_id = (await session.exec(select(Shipment.id).where(Shipment.order_id == order_id))).first()
    return FulfilmentPublic(
        order_id=order.order_id,
        status=order.status,  # type: ignore[arg-type]
        lines=[WantedLine(sku=sku, quantity=q) for sku, q in sorted(wanted.items())],
        reserved=[ReservedLine(sku=r.sku, warehouse=r.warehouse, quantity=r.quantity) for r in held]
        if order.status == "reserved"
        else [],
        payment_terms=order.payment_terms,
        invoice_paid=order.invoice_paid,
        backordered_at=order.backordered_at,
        reserved_at=order.reserved_at,
        closed_reason=order.closed_reason,
        shipment_id=shipment_id,
    )


async def shipments_public(session: AsyncSession, shipments: list[Shipment]) -> list[ShipmentPublic]:
    ids = [s.id for s in shipments]
    milestones: dict[str, list[MilestonePublic]] = {i: [] for i in ids}
    if ids:
        rows = await session.exec(
            select(TrackingMilestone)
            .where(col(TrackingMilestone.shipment_id).in_(ids))
            .order_by(col(TrackingMilestone.at), col(TrackingMilestone.recorded_at))
        )
        for m in rows.all():
            milestones[m.shipment_id].append(MilestonePublic.model_validate(m))
    return [ShipmentPublic.model_validate({**s.model_dump(), "milestones": milestones[s.id]}) for s in shipments]


async def get_shipment(session: AsyncSession, shipment_id: str) -> ShipmentPublic:
    shipment = await session.get(Shipment, shipment_id)
    if shipment is None:
        raise NotFound(f"no shipment {shipment_id}", field="shipment_id")
    return (await shipments_public(session, [shipment]))[0]


# -- freight quote ---------------------------------------------------------------------------------


def quote_freight(body: RateRequest, settings: Settings) -> RateQuotePublic:
    origin = body.origin_country or settings.seller_country
    currency = body.currency or settings.base_currency
    priced = price_freight(body.mode, origin, body.destination_country, body.weight_kg, body.volume_m3)
    price = Money.of(priced.price, TARIFF_CURRENCY)
    fx: FxRate | None = None
    if currency != TARIFF_CURRENCY:
        try:
            price, fx = convert(price, currency)
        except ValueError as exc:
            raise Invalid(str(exc), field="currency") from None
    return RateQuotePublic(
        mode=body.mode,
        zone=priced.zone,
        origin_country=origin,
        destination_country=body.destination_country,
        actual_weight_kg=priced.actual_weight_kg,
        volumetric_weight_kg=priced.volumetric_weight_kg,
        chargeable_weight_kg=priced.chargeable_weight_kg,
        price=price,
        currency=currency,
        rate_per_kg=Money(amount=priced.tariff.rate_per_kg, currency=TARIFF_CURRENCY),
        minimum_charge=Money(amount=priced.tariff.minimum_charge, currency=TARIFF_CURRENCY),
        fx=fx,
    )
