"""How the sales department reacts to other departments' events: the HANDLERS table."""

from __future__ import annotations

from hanse.consumer import Handler
from services.compliance.contract import OrderCleared, OrderHeld, OrderRejected
from services.finance.contract import InvoicePaid
from services.logistics.contract import (
    ShipmentBooked,
    ShipmentDelivered,
    ShipmentDispatched,
    StockReserved,
    StockShort,
)
from services.sales.config import UoW
from services.sales.domain import accounts, inquiries, notify, orders, privacy


def _with_reasons(prefix: str, reasons: list[str]) -> str:
    return f"{prefix}: {'; '.join(reasons)}" if reasons else prefix


async def on_order_held(uow: UoW, payload: OrderHeld) -> None:
    reason = _with_reasons("held by compliance", payload.reasons)
    await orders.advance_order(uow, payload.order_id, "held", reason)


async def on_order_rejected(uow: UoW, payload: OrderRejected) -> None:
    reason = _with_reasons("rejected by compliance", payload.reasons)
    await orders.advance_order(uow, payload.order_id, "rejected", reason)


async def on_order_cleared(uow: UoW, payload: OrderCleared) -> None:
    by = f" by {payload.decided_by}" if payload.decided_by else ""
    await orders.advance_order(uow, payload.order_id, "cleared", f"cleared by compliance{by}")


async def on_stock_short(uow: UoW, payload: StockShort) -> None:
    short = ", ".join(f"{ln.sku} {ln.available} of {ln.requested}" for ln in payload.lines)
    await orders.advance_order(uow, payload.order_id, "short", f"back-ordered, available: {short}")


async def on_stock_reserved(uow: UoW, payload: StockReserved) -> None:
    reason = "stock reserved from back-order" if payload.from_backorder else "stock reserved"
    await orders.advance_order(uow, payload.order_id, "reserved", reason)


async def on_shipment_booked(uow: UoW, payload: ShipmentBooked) -> None:
    reason = f"shipment {payload.shipment_id} booked with {payload.carrier} by {payload.mode}"
    await orders.advance_order(
        uow, payload.order_id, "booked", f"{reason}, tracking {payload.tracking_number}", payload
    )


async def on_shipment_dispatched(uow: UoW, payload: ShipmentDispatched) -> None:
    await orders.advance_order(
        uow, payload.order_id, "dispatched", f"shipment {payload.shipment_id} dispatched", payload
    )


async def on_shipment_delivered(uow: UoW, payload: ShipmentDelivered) -> None:
    await orders.advance_order(uow, payload.order_id, "delivered", f"shipment {payload.shipment_id} delivered", payload)


async def on_invoice_paid(uow: UoW, payload: InvoicePaid) -> None:
    await orders.advance_order(uow, payload.order_id, "paid", f"invoice {payload.invoice_id} paid")


HANDLERS: dict[str, Handler] = {
    "marketing.lead.qualified.v1": accounts.open_account_for_lead,
    "compliance.order.held.v1": on_order_held,
    "compliance.order.rejected.v1": on_order_rejected,
    "compliance.order.cleared.v1": on_order_cleared,
    "logistics.stock.short.v1": on_stock_short,
    "logistics.stock.reserved.v1": on_stock_reserved,
    "logistics.shipment.booked.v1": on_shipment_booked,
    "logistics.shipment.dispatched.v1": on_shipment_dispatched,
    "logistics.shipment.delivered.v1": on_shipment_delivered,
    "finance.invoice.paid.v1": on_invoice_paid,
    "finance.invoice.issued.v1": notify.invoice_issued,
    "compliance.screening.completed.v1": inquiries.screened,
    "compliance.contract.status_changed.v1": accounts.frame_changed,
    "logistics.return.requested.v1": orders.record_return,
    "compliance.privacy_request.opened.v1": privacy.answer_privacy_request,
    "logistics.return.inspected.v1": orders.record_return,
}
