"""How the finance department reacts to other departments' events."""

from __future__ import annotations

import logging

from hanse.consumer import EventContext, Handler
from hanse.errors import PermanentEventError
from services.compliance.contract import OrderCleared, OrderRejected
from services.finance import domain
from services.sales.contract import OrderCancelled

log = logging.getLogger("hanse.finance")


async def on_order_cleared(ctx: EventContext, payload: OrderCleared) -> None:
    """Issue the order's proforma invoice (once, whatever the redelivery; nothing if already cancelled)."""
    if payload.order.order_id != payload.order_id:
        raise PermanentEventError(f"order_id {payload.order_id} differs from order.order_id {payload.order.order_id}")
    invoice = await domain.issue_proforma(ctx.session, payload.order, ctx.settings, ctx.publish)
    if invoice is None:
        log.info("order %s was cancelled or rejected before clearance: no invoice", payload.order_id)


async def on_order_cancelled(ctx: EventContext, payload: OrderCancelled) -> None:
    reason = f"order cancelled: {payload.reason}" if payload.reason else "order cancelled"
    await domain.close_order(ctx.session, payload.order_id, reason, ctx.publish)


async def on_order_rejected(ctx: EventContext, payload: OrderRejected) -> None:
    reasons = "; ".join(payload.reasons)
    reason = f"order rejected by compliance: {reasons}" if reasons else "order rejected by compliance"
    await domain.close_order(ctx.session, payload.order_id, reason, ctx.publish)


HANDLERS: dict[str, Handler] = {
    OrderCleared.event_type: on_order_cleared,
    OrderCancelled.event_type: on_order_cancelled,
    OrderRejected.event_type: on_order_rejected,
}
