"""Orders: placed once from an accepted quote, moved along by other departments' events, cancelled by sales.

Every event about an order carries the order id as its correlation id: the order is the business flow.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import Conflict, NotFound, PermanentEventError
from hanse.events import utcnow
from hanse.ids import new_id
from services.logistics.contract import ReturnInspected, ReturnRequested, ShipmentBooked
from services.sales import views
from services.sales.config import UoW
from services.sales.domain import inquiries, notify
from services.sales.domain.quotes import quote_lines
from services.sales.domain.rules import OrderState, Signal, Transition, advance, cancel, fully_returned
from services.sales.models import (
    Account,
    Amounts,
    LineBase,
    OrderHistory,
    OrderLineRow,
    OrderReturn,
    Quote,
    QuoteCreate,
    SalesOrder,
    TradeTerms,
)

log = logging.getLogger("services.sales")


async def accept_quote(uow: UoW, quote_id: str) -> SalesOrder:
    """Place the order of a quote, once: the quote row is locked, and orders.quote_id is unique."""
    session = uow.session
    quote = (await session.exec(select(Quote).where(Quote.id == quote_id).with_for_update())).one_or_none()
    if quote is None:
        raise NotFound(f"no quote {quote_id}", field="quote_id")
    if quote.status == "accepted" or quote.order_id is not None:
        raise Conflict(f"quote {quote_id} was accepted already (order {quote.order_id})", order_id=quote.order_id)
    now = utcnow()
    if quote.valid_until <= now:
        raise Conflict(f"quote {quote_id} expired at {quote.valid_until.isoformat()}", field="valid_until")
    account = await session.get(Account, quote.account_id)
    if account is None:  # pragma: no cover - quotes reference accounts by foreign key
        raise NotFound(f"no account {quote.account_id}", field="account_id")
    lines = (await quote_lines(session, [quote.id]))[quote.id]
    order = SalesOrder(
        **quote.model_dump(include=set(TradeTerms.model_fields) | set(Amounts.model_fields)),
        id=new_id("ord"),
        quote_id=quote.id,
        status="placed",
        payment_terms=quote.payment_terms or account.payment_terms,
        carrier=quote.carrier,
        language=account.language,
        placed_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(order)
    await session.flush()
    order_lines = [OrderLineRow(**ln.model_dump(include=set(LineBase.model_fields)), order_id=order.id) for ln in lines]
    session.add_all(order_lines)
    quote.status, quote.order_id = "accepted", order.id
    await inquiries.mark(uow, quote.inquiry_id, "won")
    session.add(OrderHistory(order_id=order.id, status="placed", reason=f"quote {quote.id} accepted", at=now))
    await uow.publish(views.order_placed(order, order_lines, account), correlation_id=order.id)
    await uow.publish(views.status_changed(order, "placed", None, "quote accepted"), correlation_id=order.id)
    return order


async def locked_order(session: AsyncSession, order_id: str) -> SalesOrder | None:
    query = select(SalesOrder).where(SalesOrder.id == order_id).with_for_update()
    return (await session.exec(query)).one_or_none()


# Built once, the ids bound per call (as `catalogue._TIERS`): the order GET and list run these on every request.
_LINES = (
    select(OrderLineRow)
    .where(OrderLineRow.order_id.in_(bindparam("ids", expanding=True)))
    .order_by(OrderLineRow.line_no)
)
_HISTORY = (
    select(OrderHistory).where(OrderHistory.order_id.in_(bindparam("ids", expanding=True))).order_by(OrderHistory.id)
)
_RETURNS = (
    select(OrderReturn)
    .where(OrderReturn.order_id.in_(bindparam("ids", expanding=True)))
    .order_by(OrderReturn.created_at)
)


async def order_parts(
    session: AsyncSession, order_ids: Sequence[str]
) -> tuple[dict[str, list[OrderLineRow]], dict[str, list[OrderHistory]]]:
    """The lines and the history of these orders, each in order."""
    lines: dict[str, list[OrderLineRow]] = {oid: [] for oid in order_ids}
    history: dict[str, list[OrderHistory]] = {oid: [] for oid in order_ids}
    if order_ids:
        params = {"ids": list(order_ids)}
        for ln in await session.exec(_LINES, params=params):
            lines[ln.order_id].append(ln)
        for h in await session.exec(_HISTORY, params=params):
            history[h.order_id].append(h)
    return lines, history


async def record_transitions(uow: UoW, order: SalesOrder, transitions: Sequence[Transition]) -> None:
    """Write each transition to the order's history and announce it."""
    for step in transitions:
        now = utcnow()
        uow.session.add(
            OrderHistory(
                order_id=order.id, status=step.status, previous_status=step.previous, reason=step.reason, at=now
            )
        )
        order.status, order.updated_at = step.status, now
        await uow.publish(views.status_changed(order, step.status, step.previous, step.reason), correlation_id=order.id)
    uow.session.add(order)


async def apply_signal(uow: UoW, order: SalesOrder, signal: Signal, reason: str | None) -> list[Transition]:
    state, transitions = advance(OrderState(order.status, order.paid, order.held_from), signal, reason)
    if (state.paid, state.held_from) != (order.paid, order.held_from):
        order.paid, order.held_from, order.updated_at = state.paid, state.held_from, utcnow()
        uow.session.add(order)
    await record_transitions(uow, order, transitions)
    return transitions


async def advance_order(uow: UoW, order_id: str, signal: Signal, reason: str, payload: Any = None) -> None:
    """Another department's event about an order: move it along (or record that it changes nothing).

    The buyer hears of the milestones (confirmed, shipped, delivered) on the transition only, so a
    repeated business fact (a second dispatch event) never mails twice.
    """
    event_type = uow.cause.type if uow.cause else signal
    order = await locked_order(uow.session, order_id)
    if order is None:
        # Sales places every order before anyone can act on it: an unknown id is garbage.
        raise PermanentEventError(f"{event_type} for unknown order {order_id}")
    if isinstance(payload, ShipmentBooked):
        # Kept for the dispatch mail: the dispatch event may not name them.
        order.shipped_with, order.tracking_number = payload.carrier, payload.tracking_number
        uow.session.add(order)
    transitions = await apply_signal(uow, order, signal, reason)
    if not transitions:
        log.info("order %s: %s left it %s", order_id, event_type, order.status)
    for step in transitions:
        if step.previous == "on_hold" and await reached_before(uow.session, order.id, step.status):
            continue  # a lifted hold returns the order to a milestone the buyer has heard of already
        await notify.order_milestone(uow, order, step.status, payload)


async def reached_before(session: AsyncSession, order_id: str, status: str) -> bool:
    """Whether the order's history had this status before its latest transition (flushed first)."""
    await session.flush()
    query = select(OrderHistory.id).where(OrderHistory.order_id == order_id, OrderHistory.status == status)
    return len((await session.exec(query.limit(2))).all()) > 1


async def cancel_order(uow: UoW, order_id: str, reason: str | None) -> SalesOrder:
    order = await locked_order(uow.session, order_id)
    if order is None:
        raise NotFound(f"no order {order_id}", field="order_id")
    step = cancel(OrderState(order.status, order.paid), reason)
    await uow.publish(views.order_cancelled(order, step.previous, step.reason), correlation_id=order.id)
    await record_transitions(uow, order, [step])
    return order


async def reorder_request(uow: UoW, order_id: str) -> QuoteCreate:
    """A past order as a new quote request: same buyer, terms and lines, priced again today."""
    order = await uow.session.get(SalesOrder, order_id)
    if order is None:
        raise NotFound(f"no order {order_id}", field="order_id")
    if order.status == "cancelled":
        raise Conflict(f"order {order_id} was cancelled; it cannot be reordered", field="order_id")
    lines, _ = await order_parts(uow.session, [order_id])
    return QuoteCreate.model_validate(
        {
            **order.model_dump(include=set(TradeTerms.model_fields)),
            "carrier": order.carrier,
            "lines": [{"sku": ln.sku, "quantity": ln.quantity} for ln in lines[order_id]],
        }
    )


async def returns_of(session: AsyncSession, order_ids: Sequence[str]) -> dict[str, list[OrderReturn]]:
    found: dict[str, list[OrderReturn]] = {oid: [] for oid in order_ids}
    if order_ids:
        for row in await session.exec(_RETURNS, params={"ids": list(order_ids)}):
            found[row.order_id].append(row)
    return found


async def record_return(uow: UoW, event: ReturnRequested | ReturnInspected) -> None:
    """Logistics' return of (part of) an order: listed on the order; `returned` once everything came back.

    Requested and inspected may arrive in either order: an inspected return never goes back to
    requested. `returned` is a flag beside the status (a returned order was delivered; finance's
    credit note settles the money), set when logistics says the order was fully returned or the
    inspected quantities cover every line.
    """
    order = await locked_order(uow.session, event.order_id)
    if order is None:
        raise PermanentEventError(f"{uow.cause.type if uow.cause else 'return'} for unknown order {event.order_id}")
    inspected = isinstance(event, ReturnInspected)
    now = utcnow()
    row = await uow.session.get(OrderReturn, event.return_id)
    if row is None:
        row = OrderReturn(
            id=event.return_id, order_id=order.id, rma_number=event.rma_number, status="requested", created_at=now
        )
    if isinstance(event, ReturnRequested):
        row.reason = event.reason
    if inspected or row.status == "requested":
        row.status = "inspected" if inspected else "requested"
        row.lines = [line.model_dump() for line in event.lines]
    row.updated_at = now
    uow.session.add(row)
    await uow.session.flush()
    if inspected and not order.returned:
        lines, _ = await order_parts(uow.session, [order.id])
        returns = (await returns_of(uow.session, [order.id]))[order.id]
        back = fully_returned(
            [(ln.sku, ln.quantity) for ln in lines[order.id]],
            [(ln["sku"], ln["quantity"]) for r in returns if r.status == "inspected" for ln in r.lines],
        )
        if event.order_fully_returned or back:
            order.returned, order.updated_at = True, now
            uow.session.add(order)
