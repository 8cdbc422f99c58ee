"""Logistics rows as API answers and as event payloads, each shape built in one place."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from hanse.money import FxRate, Money
from hanse.views import from_row
from services.logistics.contract import (
    ReservedLine,
    ShipmentBooked,
    ShipmentDelivered,
    ShipmentDispatched,
    ShipmentTracked,
    StockReceived,
)
from services.logistics.domain.rules import TARIFF_CURRENCY, FreightPrice
from services.logistics.models import (
    FulfilmentOrder,
    FulfilmentPublic,
    MilestonePublic,
    RateQuotePublic,
    ReceiptPublic,
    Reservation,
    Shipment,
    ShipmentPublic,
    StockLevel,
    StockPublic,
    StockReceipt,
    TrackingMilestone,
    TrackingPublic,
    WantedLine,
    WarehouseStock,
)

# -- answers ---------------------------------------------------------------------------------------


def receipt_public(receipt: StockReceipt, backorders_filled: list[str]) -> ReceiptPublic:
    return ReceiptPublic.model_validate(receipt, update={"backorders_filled": backorders_filled})


def stock_public(sku: str, rows: Sequence[StockLevel]) -> StockPublic:
    per_warehouse = [
        WarehouseStock(warehouse=r.warehouse, on_hand=r.on_hand, reserved=r.reserved, available=r.on_hand - r.reserved)
        for r in rows
    ]
    on_hand = sum(w.on_hand for w in per_warehouse)
    reserved = sum(w.reserved for w in per_warehouse)
    return StockPublic(
        sku=sku, on_hand=on_hand, reserved=reserved, available=on_hand - reserved, warehouses=per_warehouse
    )


def reserved_lines(held: Iterable[Reservation]) -> list[ReservedLine]:
    return [ReservedLine(sku=r.sku, warehouse=r.warehouse, quantity=r.quantity) for r in held]


def fulfilment_public(
    order: FulfilmentOrder, wanted: Mapping[str, int], held: Iterable[Reservation], shipment_id: str | None
) -> FulfilmentPublic:
    return FulfilmentPublic.model_validate(
        order,
        update={
            "lines": [WantedLine(sku=sku, quantity=q) for sku, q in sorted(wanted.items())],
            # Reservations count only while the order is reserved (after dispatch they left with the goods).
            "reserved": reserved_lines(held) if order.status == "reserved" else [],
            "shipment_id": shipment_id,
        },
    )


def shipments_public(shipments: Sequence[Shipment], milestones: Iterable[TrackingMilestone]) -> list[ShipmentPublic]:
    """Shipments with their milestones, the milestones in the order they are given."""
    by_shipment: dict[str, list[MilestonePublic]] = {s.id: [] for s in shipments}
    for m in milestones:
        by_shipment[m.shipment_id].append(MilestonePublic.model_validate(m))
    return [ShipmentPublic.model_validate(s, update={"milestones": by_shipment[s.id]}) for s in shipments]


def tracking_public(milestone: TrackingMilestone, shipment: Shipment) -> TrackingPublic:
    return TrackingPublic.model_validate(milestone, update={"shipment_status": shipment.status})


def rate_quote_public(
    priced: FreightPrice, origin: str, destination: str, price: Money, fx: FxRate | None
) -> RateQuotePublic:
    return RateQuotePublic(
        mode=priced.mode,  # type: ignore[arg-type]
        zone=priced.zone,
        origin_country=origin,
        destination_country=destination,
        actual_weight_kg=priced.actual_weight_kg,
        volumetric_weight_kg=priced.volumetric_weight_kg,
        chargeable_weight_kg=priced.chargeable_weight_kg,
        price=price,
        currency=price.currency,
        rate_per_kg=Money(amount=priced.tariff.rate_per_kg, currency=TARIFF_CURRENCY),
        minimum_charge=Money(amount=priced.tariff.minimum_charge, currency=TARIFF_CURRENCY),
        fx=fx,
    )


# -- event payloads --------------------------------------------------------------------------------


def stock_received(receipt: StockReceipt) -> StockReceived:
    return from_row(StockReceived, receipt, receipt_id=receipt.id)


def shipment_booked(shipment: Shipment) -> ShipmentBooked:
    return from_row(ShipmentBooked, shipment, shipment_id=shipment.id)


def shipment_tracked(milestone: TrackingMilestone, shipment: Shipment) -> ShipmentTracked:
    return from_row(ShipmentTracked, milestone, shipment_id=shipment.id, order_id=shipment.order_id)


def shipment_moved(
    event: type[ShipmentDispatched] | type[ShipmentDelivered], shipment: Shipment, at: datetime
) -> ShipmentDispatched | ShipmentDelivered:
    """The shipment left the warehouse (dispatched) or reached the buyer (delivered) at `at`."""
    return event(shipment_id=shipment.id, order_id=shipment.order_id, at=at)
