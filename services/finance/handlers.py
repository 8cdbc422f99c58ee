"""How the finance department reacts to other departments' events."""

from __future__ import annotations

import logging

from hanse.consumer import Handler
from hanse.errors import PermanentEventError
from services.compliance.contract import OrderCleared, OrderRejected, PrivacyRequestOpened
from services.finance.config import UoW
from services.finance.domain import bills, invoices, privacy
from services.logistics.contract import ReturnInspected, ShipmentBooked
from services.procurement.contract import GoodsAccepted, SupplierRegistered
from services.sales.contract import OrderCancelled

log = logging.getLogger("hanse.finance")


async def on_order_cleared(uow: UoW, payload: OrderCleared) -> None:
    """Issue the order's proforma invoice (once, whatever the redelivery; nothing if already cancelled)."""
    if payload.order.order_id != payload.order_id:
        raise PermanentEventError(f"order_id {payload.order_id} differs from order.order_id {payload.order.order_id}")
    invoice = await invoices.issue_proforma(uow, payload.order)
    if invoice is None:
        log.info("order %s was cancelled or rejected before clearance: no invoice", payload.order_id)


async def on_order_cancelled(uow: UoW, payload: OrderCancelled) -> None:
    reason = f"order cancelled: {payload.reason}" if payload.reason else "order cancelled"
    await invoices.close_order(uow, payload.order_id, reason)


async def on_order_rejected(uow: UoW, payload: OrderRejected) -> None:
    reasons = "; ".join(payload.reasons)
    reason = f"order rejected by compliance: {reasons}" if reasons else "order rejected by compliance"
    await invoices.close_order(uow, payload.order_id, reason)


async def on_shipment_booked(uow: UoW, payload: ShipmentBooked) -> None:
    """Customs need the commercial invoice before dispatch: issue it (once) on booking."""
    await invoices.issue_commercial(uow, payload.order_id, payload.shipment_id)


async def on_return_inspected(uow: UoW, payload: ReturnInspected) -> None:
    """Credit the units received back (restocked or scrapped alike: the buyer returned them)."""
    returned: dict[str, int] = {}
    for line in payload.lines:
        returned[line.sku] = returned.get(line.sku, 0) + line.quantity
    await invoices.credit_return(uow, payload.order_id, payload.return_id, returned)


async def on_privacy_request(uow: UoW, payload: PrivacyRequestOpened) -> None:
    await privacy.answer(uow, payload)


HANDLERS: dict[str, Handler] = {
    OrderCleared.event_type: on_order_cleared,
    OrderCancelled.event_type: on_order_cancelled,
    OrderRejected.event_type: on_order_rejected,
    ShipmentBooked.event_type: on_shipment_booked,
    ReturnInspected.event_type: on_return_inspected,
    SupplierRegistered.event_type: bills.remember_supplier,
    GoodsAccepted.event_type: bills.record_bill,
    PrivacyRequestOpened.event_type: on_privacy_request,
}
