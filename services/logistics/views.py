"""Logistics rows as API answers and as event payloads, each shape built in one place."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from hanse.money import FxRate, Money
from hanse.views import from_row
from services.finance.contract import LetterOfCreditRecorded
from services.logistics.contract import (
    ReservedLine,
    ShipmentBooked,
    ShipmentDelivered,
    ShipmentDispatched,
    ShipmentTracked,
    StockReceived,
)
from services.logistics.contract import StockLevel as LevelPayload
from services.logistics.domain import rules
from services.logistics.domain.rules import TARIFF_CURRENCY, FreightPrice
from services.logistics.models import (
    Customs,
    CustomsLine,
    CustomsLinePublic,
    FulfilmentOrder,
    FulfilmentPublic,
    LetterOfCredit,
    MilestonePublic,
    PackageDimensions,
    Packages,
    RateQuotePublic,
    ReceiptPublic,
    Reservation,
    ReturnItem,
    ReturnItemPublic,
    ReturnPublic,
    ReturnRequest,
    ReturnSummary,
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
    order: FulfilmentOrder,
    wanted: Mapping[str, int],
    held: Iterable[Reservation],
    shipment_id: str | None,
    returns: Iterable[ReturnRequest] = (),
    returned: bool = False,
) -> FulfilmentPublic:
    return FulfilmentPublic.model_validate(
        order,
        update={
            "lines": [WantedLine(sku=sku, quantity=q) for sku, q in sorted(wanted.items())],
            # Reservations count only while the order is reserved (after dispatch they left with the goods).
            "reserved": reserved_lines(held) if order.status == "reserved" else [],
            "shipment_id": shipment_id,
            "held": order.held,
            "booking_blocked": order.booking_blocked,
            "returns": [ReturnSummary(id=r.id, rma_number=r.rma_number, status=r.status) for r in returns],
            "returned": returned,
        },
    )


def levels(stock: Mapping[tuple[str, str], StockLevel], skus: Iterable[str]) -> list[LevelPayload]:
    """The SKUs' stock per warehouse as it stands now in this transaction (procurement's reorder rules read it)."""
    wanted = set(skus)
    return [
        LevelPayload(
            sku=r.sku, warehouse=r.warehouse, on_hand=r.on_hand, reserved=r.reserved, available=r.on_hand - r.reserved
        )
        for (sku, _), r in sorted(stock.items())
        if sku in wanted
    ]


def letter_of_credit_row(lc: LetterOfCreditRecorded) -> LetterOfCredit:
    return LetterOfCredit(
        id=lc.letter_of_credit_id,
        order_id=lc.order_id,
        issuing_bank=lc.issuing_bank[:200],
        amount=lc.amount.amount,
        currency=lc.amount.currency,
        expiry_date=lc.expiry_date,
        latest_shipment_date=lc.latest_shipment_date,
    )


def shipments_public(shipments: Sequence[Shipment], milestones: Iterable[TrackingMilestone]) -> list[ShipmentPublic]:
    """Shipments with their milestones, the milestones in the order they are given."""
    by_shipment: dict[str, list[MilestonePublic]] = {s.id: [] for s in shipments}
    for m in milestones:
        by_shipment[m.shipment_id].append(MilestonePublic.model_validate(m))
    return [
        ShipmentPublic.model_validate(
            s, update={"milestones": by_shipment[s.id], "carrier_name": carrier_name(s.carrier)}
        )
        for s in shipments
    ]


def carrier_name(carrier_id: str) -> str:
    found = rules.carrier(carrier_id)
    return found.name if found else carrier_id


def customs_public(
    order: FulfilmentOrder | None, lines: Sequence[CustomsLine], mode: str
) -> tuple[Customs, Packages, list[rules.CustomsItem]]:
    """The customs declaration data of a shipment and its packages, from the order's customs lines."""
    currency = (order.currency if order else None) or TARIFF_CURRENCY
    items = [
        rules.customs_item(
            line.sku,
            line.description,
            line.hs_code,
            line.origin_country,
            line.quantity,
            line.unit_price,
            line.unit_weight_kg,
        )
        for line in lines
    ]
    gross = sum((item.gross_weight_kg for item in items), Decimal(0))
    counted = rules.package_count(mode, gross)
    length, width, height = counted.packaging.dimensions_cm
    customs = Customs(
        lines=[
            CustomsLinePublic(
                sku=i.sku,
                description=i.description,
                hs_code=i.hs_code,
                origin_country=i.origin_country,
                quantity=i.quantity,
                net_weight_kg=i.net_weight_kg,
                gross_weight_kg=i.gross_weight_kg,
                value=Money.of(i.value, currency),
            )
            for i in items
        ],
        total_value=Money.of(sum((i.value for i in items), Decimal(0)), currency) if items else None,
        incoterm=order.incoterm if order else None,
        named_place=order.named_place if order else None,
    )
    packages = Packages(
        count=counted.count,
        type=counted.packaging.type,
        dimensions=PackageDimensions(length_cm=length, width_cm=width, height_cm=height),
        weight_kg=counted.weight_kg,
    )
    return customs, packages, items


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
        carrier=priced.carrier,
        carrier_name=carrier_name(priced.carrier),
    )


# -- event payloads --------------------------------------------------------------------------------


def stock_received(receipt: StockReceipt, stock: Mapping[tuple[str, str], StockLevel]) -> StockReceived:
    return from_row(StockReceived, receipt, receipt_id=receipt.id, levels=levels(stock, {receipt.sku}))


def shipment_booked(shipment: Shipment) -> ShipmentBooked:
    return from_row(ShipmentBooked, shipment, shipment_id=shipment.id)


def shipment_tracked(milestone: TrackingMilestone, shipment: Shipment) -> ShipmentTracked:
    return from_row(ShipmentTracked, milestone, shipment_id=shipment.id, order_id=shipment.order_id)


def shipment_dispatched(shipment: Shipment, at: datetime) -> ShipmentDispatched:
    """The shipment left the warehouse at `at`, with what the buyer's dispatch mail names."""
    return ShipmentDispatched(
        shipment_id=shipment.id,
        order_id=shipment.order_id,
        at=at,
        carrier=shipment.carrier,
        carrier_name=carrier_name(shipment.carrier),
        mode=shipment.mode,
        tracking_number=shipment.tracking_number,
    )


def shipment_delivered(shipment: Shipment, at: datetime) -> ShipmentDelivered:
    return ShipmentDelivered(shipment_id=shipment.id, order_id=shipment.order_id, at=at)


def return_public(rma: ReturnRequest, items: Iterable[ReturnItem]) -> ReturnPublic:
    lines = [
        ReturnItemPublic(
            sku=i.sku, quantity=i.quantity, received=i.received, restocked=i.restocked, scrapped=i.scrapped
        )
        for i in sorted(items, key=lambda i: i.sku)
    ]
    return ReturnPublic.model_validate(rma, update={"lines": lines})
