"""How the logistics department reacts to other departments' events."""

from __future__ import annotations

import logging

from hanse.consumer import Handler
from hanse.errors import PermanentEventError
from services.compliance.contract import (
    OrderCleared,
    OrderHeld,
    OrderRejected,
)
from services.finance.contract import InvoicePaid, LetterOfCreditRecorded
from services.logistics.config import UoW
from services.logistics.domain import documents, fulfilment, privacy, stock
from services.procurement.contract import GoodsAccepted
from services.sales.contract import OrderCancelled

log = logging.getLogger("hanse.logistics")


async def on_order_cleared(uow: UoW, payload: OrderCleared) -> None:
    """Reserve every line of the cleared order, or back-order it (all or nothing); again: a hold lifted."""
    if payload.order.order_id != payload.order_id:
        raise PermanentEventError(f"order_id {payload.order_id} differs from order.order_id {payload.order.order_id}")
    try:
        outcome = await fulfilment.reserve_cleared_order(uow, payload.order)
    except ValueError as exc:
        raise PermanentEventError(f"order {payload.order_id} cannot be reserved: {exc}") from None
    log.info("order %s cleared: %s", payload.order_id, outcome)


async def on_order_held(uow: UoW, payload: OrderHeld) -> None:
    outcome = await fulfilment.hold_order(uow, payload.order_id, payload.reasons)
    log.info("order %s held: %s", payload.order_id, outcome)


async def on_order_rejected(uow: UoW, payload: OrderRejected) -> None:
    reason = "; ".join(payload.reasons) or None
    outcome = await fulfilment.close_order(uow, payload.order_id, "rejected", reason)
    log.info("order %s rejected: %s", payload.order_id, outcome)


async def on_order_cancelled(uow: UoW, payload: OrderCancelled) -> None:
    outcome = await fulfilment.close_order(uow, payload.order_id, "cancelled", payload.reason)
    log.info("order %s cancelled: %s", payload.order_id, outcome)


async def on_invoice_paid(uow: UoW, payload: InvoicePaid) -> None:
    """Prepaid orders ship once paid; the payment may arrive before or after the reservation."""
    outcome = await fulfilment.record_invoice_paid(uow, payload.order_id)
    log.info("invoice %s of order %s paid: %s", payload.invoice_id, payload.order_id, outcome)


async def on_letter_of_credit(uow: UoW, payload: LetterOfCreditRecorded) -> None:
    outcome = await fulfilment.record_letter_of_credit(uow, payload)
    log.info("letter of credit %s for order %s: %s", payload.letter_of_credit_id, payload.order_id, outcome)


async def on_goods_accepted(uow: UoW, payload: GoodsAccepted) -> None:
    outcome = await stock.accept_goods(uow, payload)
    log.info("inspection %s accepted: %s", payload.inspection_id, outcome)


HANDLERS: dict[str, Handler] = {
    "compliance.order.cleared.v1": on_order_cleared,
    "compliance.order.held.v1": on_order_held,
    "compliance.order.rejected.v1": on_order_rejected,
    "compliance.documents.required.v1": documents.record_required,
    "compliance.licence.recorded.v1": documents.record_licence,
    "compliance.privacy_request.opened.v1": privacy.answer_privacy_request,
    "sales.order.cancelled.v1": on_order_cancelled,
    "finance.invoice.issued.v1": documents.record_invoice,
    "finance.invoice.paid.v1": on_invoice_paid,
    "finance.letter_of_credit.recorded.v1": on_letter_of_credit,
    "procurement.goods.accepted.v1": on_goods_accepted,
}
