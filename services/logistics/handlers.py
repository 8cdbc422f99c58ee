"""How the logistics department reacts to other departments' events."""

from __future__ import annotations

import logging

from hanse.consumer import EventContext, Handler
from hanse.errors import PermanentEventError
from services.compliance.contract import OrderCleared, OrderRejected
from services.finance.contract import InvoicePaid
from services.logistics import domain
from services.sales.contract import OrderCancelled

log = logging.getLogger("hanse.logistics")


def _txn(ctx: EventContext) -> domain.Txn:
    return domain.Txn(session=ctx.session, settings=ctx.settings, cause=ctx.event)


async def on_order_cleared(ctx: EventContext, payload: OrderCleared) -> None:
    """Reserve every line of the cleared order, or back-order it (all or nothing)."""
    if payload.order.order_id != payload.order_id:
        raise PermanentEventError(f"order_id {payload.order_id} differs from order.order_id {payload.order.order_id}")
    try:
        outcome = await domain.reserve_cleared_order(_txn(ctx), payload.order)
    except ValueError as exc:
        raise PermanentEventError(f"order {payload.order_id} cannot be reserved: {exc}") from None
    log.info("order %s cleared: %s", payload.order_id, outcome)


async def on_order_rejected(ctx: EventContext, payload: OrderRejected) -> None:
    reason = "; ".join(payload.reasons) or None
    outcome = await domain.close_order(_txn(ctx), payload.order_id, "rejected", reason)
    log.info("order %s rejected: %s", payload.order_id, outcome)


async def on_order_cancelled(ctx: EventContext, payload: OrderCancelled) -> None:
    outcome = await domain.close_order(_txn(ctx), payload.order_id, "cancelled", payload.reason)
    log.info("order %s cancelled: %s", payload.order_id, outcome)


async def on_invoice_paid(ctx: EventContext, payload: InvoicePaid) -> None:
    """Prepaid orders ship once paid; the payment may arrive before or after the reservation."""
    outcome = await domain.record_invoice_paid(_txn(ctx), payload.order_id)
    log.info("invoice %s of order %s paid: %s", payload.invoice_id, payload.order_id, outcome)


HANDLERS: dict[str, Handler] = {
    "compliance.order.cleared.v1": on_order_cleared,
    "compliance.order.rejected.v1": on_order_rejected,
    "sales.order.cancelled.v1": on_order_cancelled,
    "finance.invoice.paid.v1": on_invoice_paid,
}
