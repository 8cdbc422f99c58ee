"""How the sales department reacts to other departments' events."""

from __future__ import annotations

import logging

from hanse.consumer import EventContext, Handler
from hanse.errors import PermanentEventError
from hanse.events import EventPayload
from services.compliance.contract import OrderCleared, OrderHeld, OrderRejected
from services.finance.contract import InvoicePaid
from services.logistics.contract import (
    ShipmentBooked,
    ShipmentDelivered,
    ShipmentDispatched,
    StockReserved,
    StockShort,
)
from services.marketing.contract import LeadQualified
from services.sales import domain
from services.sales.models import AccountCreate, language_tag

log = logging.getLogger("services.sales")


async def open_account_for_lead(ctx: EventContext, payload: LeadQualified) -> None:
    """A qualified lead becomes an account, once per lead (redeliveries and repeats find it)."""
    if await domain.account_for_lead(ctx.session, payload.lead_id) is not None:
        return
    settings = ctx.settings
    language = payload.language
    try:
        language = language_tag(language) if language else None
    except ValueError:
        language = None  # a language we cannot use is no reason to lose the customer
    try:
        data = AccountCreate.model_validate(
            {
                "company": payload.company[:200],
                "country": payload.country,
                "email": payload.email,
                "currency": domain.currency_for_country(payload.country.upper(), settings.base_currency),
                "language": language,
                "payment_terms": "prepaid",
            }
        )
    except ValueError as exc:
        raise PermanentEventError(f"lead {payload.lead_id} cannot open an account: {exc}") from None

    async def publish(event: EventPayload) -> object:
        # Correlated with the lead, so marketing sees the account in the lead's story.
        return await ctx.publish(event, correlation_id=ctx.correlation_id or payload.lead_id)

    account = await domain.open_account(ctx.session, data, publish, lead_id=payload.lead_id)
    log.info("account %s opened for lead %s", account.id, payload.lead_id)


async def _advance_order(ctx: EventContext, order_id: str, signal: domain.Signal, reason: str) -> None:
    order = await domain.locked_order(ctx.session, order_id)
    if order is None:
        # Sales places every order before anyone can act on it: an unknown id is garbage.
        raise PermanentEventError(f"{ctx.event.type} for unknown order {order_id}")

    async def publish(event: EventPayload) -> object:
        return await ctx.publish(event, correlation_id=order_id)

    if not await domain.apply_signal(ctx.session, order, signal, reason, publish):
        log.info("order %s: %s left it %s", order_id, ctx.event.type, order.status)


def _with_reasons(prefix: str, reasons: list[str]) -> str:
    return f"{prefix}: {'; '.join(reasons)}" if reasons else prefix


async def on_order_held(ctx: EventContext, payload: OrderHeld) -> None:
    await _advance_order(ctx, payload.order_id, "held", _with_reasons("held by compliance", payload.reasons))


async def on_order_rejected(ctx: EventContext, payload: OrderRejected) -> None:
    await _advance_order(ctx, payload.order_id, "rejected", _with_reasons("rejected by compliance", payload.reasons))


async def on_order_cleared(ctx: EventContext, payload: OrderCleared) -> None:
    by = f" by {payload.decided_by}" if payload.decided_by else ""
    await _advance_order(ctx, payload.order_id, "cleared", f"cleared by compliance{by}")


async def on_stock_short(ctx: EventContext, payload: StockShort) -> None:
    short = ", ".join(f"{ln.sku} {ln.available} of {ln.requested}" for ln in payload.lines)
    await _advance_order(ctx, payload.order_id, "short", f"back-ordered, available: {short}")


async def on_stock_reserved(ctx: EventContext, payload: StockReserved) -> None:
    reason = "stock reserved from back-order" if payload.from_backorder else "stock reserved"
    await _advance_order(ctx, payload.order_id, "reserved", reason)


async def on_shipment_booked(ctx: EventContext, payload: ShipmentBooked) -> None:
    reason = f"shipment {payload.shipment_id} booked with {payload.carrier} by {payload.mode}"
    await _advance_order(ctx, payload.order_id, "booked", f"{reason}, tracking {payload.tracking_number}")


async def on_shipment_dispatched(ctx: EventContext, payload: ShipmentDispatched) -> None:
    await _advance_order(ctx, payload.order_id, "dispatched", f"shipment {payload.shipment_id} dispatched")


async def on_shipment_delivered(ctx: EventContext, payload: ShipmentDelivered) -> None:
    await _advance_order(ctx, payload.order_id, "delivered", f"shipment {payload.shipment_id} delivered")


async def on_invoice_paid(ctx: EventContext, payload: InvoicePaid) -> None:
    await _advance_order(ctx, payload.order_id, "paid", f"invoice {payload.invoice_id} paid")


HANDLERS: dict[str, Handler] = {
    "marketing.lead.qualified.v1": open_account_for_lead,
    "compliance.order.held.v1": on_order_held,
    "compliance.order.rejected.v1": on_order_rejected,
    "compliance.order.cleared.v1": on_order_cleared,
    "logistics.stock.short.v1": on_stock_short,
    "logistics.stock.reserved.v1": on_stock_reserved,
    "logistics.shipment.booked.v1": on_shipment_booked,
    "logistics.shipment.dispatched.v1": on_shipment_dispatched,
    "logistics.shipment.delivered.v1": on_shipment_delivered,
    "finance.invoice.paid.v1": on_invoice_paid,
}
