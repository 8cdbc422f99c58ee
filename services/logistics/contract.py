"""Events the logistics department publishes (topic hanse.logistics)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from hanse.events import EventPayload
from hanse.privacy import PrivacyAnswer

TrackingStatus = Literal["picked_up", "in_transit", "customs_cleared", "out_for_delivery", "delivered", "exception"]
TransportMode = Literal["sea", "air", "courier", "road"]


class ReservedLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    warehouse: str
    quantity: int


class ShortLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    requested: int
    available: int


class StockLevel(BaseModel):
    """A SKU's stock in one warehouse after the change (procurement's reorder rules read it)."""

    model_config = ConfigDict(frozen=True)

    sku: str
    warehouse: str
    on_hand: int
    reserved: int
    available: int


class StockReceived(EventPayload, event_type="logistics.stock.received.v1", subject="sku"):
    receipt_id: str
    sku: str
    warehouse: str
    quantity: int
    levels: list[StockLevel] = []  # added: stock after the change, per SKU and warehouse


class StockReserved(EventPayload, event_type="logistics.stock.reserved.v1", subject="order_id"):
    """All lines of the order are reserved (possibly later, when a back-order is filled)."""

    order_id: str
    lines: list[ReservedLine]
    from_backorder: bool = False
    levels: list[StockLevel] = []  # added: stock after the change, per SKU and warehouse


class StockShort(EventPayload, event_type="logistics.stock.short.v1", subject="order_id"):
    """Not enough stock: the order is back-ordered and reserved first-come first-served later."""

    order_id: str
    lines: list[ShortLine]
    levels: list[StockLevel] = []  # added: stock after the change, per SKU and warehouse


class StockReleased(EventPayload, event_type="logistics.stock.released.v1", subject="order_id"):
    order_id: str
    lines: list[ReservedLine]
    reason: str
    levels: list[StockLevel] = []  # added: stock after the change, per SKU and warehouse


class ShipmentBooked(EventPayload, event_type="logistics.shipment.booked.v1", subject="order_id"):
    shipment_id: str
    order_id: str
    carrier: str
    mode: TransportMode
    tracking_number: str


class ShipmentTracked(EventPayload, event_type="logistics.shipment.tracked.v1", subject="order_id"):
    """A tracking milestone; the first picked_up/in_transit also publishes shipment.dispatched."""

    shipment_id: str
    order_id: str
    status: TrackingStatus
    location: str | None = None
    at: datetime


class ShipmentDispatched(EventPayload, event_type="logistics.shipment.dispatched.v1", subject="order_id"):
    shipment_id: str
    order_id: str
    at: datetime
    # Added: what the buyer's dispatch mail names.
    carrier: str | None = None
    carrier_name: str | None = None
    mode: TransportMode | None = None
    tracking_number: str | None = None


class ShipmentDelivered(EventPayload, event_type="logistics.shipment.delivered.v1", subject="order_id"):
    shipment_id: str
    order_id: str
    at: datetime


class ShipmentCancelled(EventPayload, event_type="logistics.shipment.cancelled.v1", subject="order_id"):
    shipment_id: str
    order_id: str
    reason: str


class ReturnLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    quantity: int  # units received back
    restocked: int = 0
    scrapped: int = 0


class ReturnRequested(EventPayload, event_type="logistics.return.requested.v1", subject="order_id"):
    return_id: str
    rma_number: str
    order_id: str
    lines: list[ReturnLine]
    reason: str


class ReturnInspected(EventPayload, event_type="logistics.return.inspected.v1", subject="order_id"):
    """The returned units were inspected: restocked ones are on hand again; finance credits the
    received quantity; `order_fully_returned` when every shipped unit of the order came back."""

    return_id: str
    rma_number: str
    order_id: str
    lines: list[ReturnLine]
    order_fully_returned: bool = False


class PrivacyAnswered(PrivacyAnswer, event_type="logistics.privacy_request.answered.v1"):
    """Logistics' answer: consignee data on shipments (customs records are kept)."""
