"""Table rows -> the API's answers and the payloads of sales' events, each shape built in one place."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from hanse.events import utcnow
from hanse.money import Money, round_money
from hanse.views import from_row
from services.sales import contract
from services.sales.models import (
    Account,
    AccountPublic,
    Dimensions,
    FrameDefaults,
    HistoryEntry,
    Inquiry,
    InquiryLinePublic,
    InquiryLineRow,
    InquiryPublic,
    LineBase,
    MessagePublic,
    NotificationPublic,
    OrderHistory,
    OrderLinePublic,
    OrderPublic,
    OrderReturn,
    OrderReturnPublic,
    PriceTier,
    Product,
    ProductPublic,
    Quote,
    QuoteLinePublic,
    QuotePublic,
    SalesOrder,
    Ticket,
    TicketMessage,
    TicketPublic,
    TierOut,
)

Shape = TypeVar("Shape", bound=BaseModel)
CM = Decimal("0.01")
GRAM = Decimal("0.001")


def _money(amount: Decimal | None, currency: str) -> Money | None:
    return None if amount is None else Money.of(amount, currency)


def amounts(row: Quote | SalesOrder) -> dict[str, Money | None]:
    """A quote's or order's stored amounts as Money in its currency (answers and events alike)."""
    cur = row.currency
    return {
        "subtotal": Money.of(row.subtotal, cur),
        "freight": _money(row.freight, cur),
        "insurance": _money(row.insurance, cur),
        "total": Money.of(row.total, cur),
    }


def line(shape: type[Shape], row: LineBase, currency: str) -> Shape:
    """A quote or order line in any of its shapes, its unit price in the currency's minor unit."""
    values: dict[str, Any] = {"unit_price": round_money(row.unit_price, currency)}
    if "unit_weight_kg" in shape.model_fields:
        values["unit_weight_kg"] = row.unit_weight_kg.quantize(GRAM)
    return from_row(shape, row, **values)


# -- catalogue ---------------------------------------------------------------------------------------


def product_public(product: Product, tiers: Sequence[PriceTier]) -> ProductPublic:
    cur = product.currency
    sides = (product.length_cm, product.width_cm, product.height_cm)
    dims = None
    if all(side is not None for side in sides):
        length, width, height = (side.quantize(CM) for side in sides if side is not None)
        dims = Dimensions(length=length, width=width, height=height)
    return from_row(
        ProductPublic,
        product,
        unit_price=Money.of(product.unit_price, cur),
        unit_weight_kg=product.unit_weight_kg.quantize(GRAM),
        dimensions_cm=dims,
        price_tiers=[TierOut(min_quantity=t.min_quantity, unit_price=Money.of(t.unit_price, cur)) for t in tiers],
    )


def product_created(product: Product) -> contract.ProductCreated:
    # The price exactly as given (not re-rounded): the row is fresh from the request.
    return from_row(
        contract.ProductCreated, product, unit_price=Money(amount=product.unit_price, currency=product.currency)
    )


# -- accounts ----------------------------------------------------------------------------------------


def account_public(account: Account) -> AccountPublic:
    frame = None
    if account.frame_contract_id:
        frame = FrameDefaults(
            contract_id=account.frame_contract_id,
            incoterm=account.frame_incoterm,
            payment_terms=account.frame_payment_terms,
        )
    return from_row(AccountPublic, account, sales_frame=frame)


def account_updated(account: Account, changed: list[str]) -> contract.AccountUpdated:
    return from_row(contract.AccountUpdated, account, account_id=account.id, changed=changed)


def account_created(account: Account) -> contract.AccountCreated:
    return from_row(contract.AccountCreated, account, account_id=account.id)


# -- quotes ------------------------------------------------------------------------------------------


def quote_public(quote: Quote, lines: Sequence[LineBase], now: datetime | None = None) -> QuotePublic:
    status = quote.status
    if status == "issued" and quote.valid_until <= (now or utcnow()):
        status = "expired"
    return from_row(
        QuotePublic,
        quote,
        status=status,
        lines=[line(QuoteLinePublic, ln, quote.currency) for ln in lines],
        **amounts(quote),
    )


def quote_issued(quote: Quote, lines: Sequence[LineBase]) -> contract.QuoteIssued:
    return from_row(
        contract.QuoteIssued,
        quote,
        quote_id=quote.id,
        lines=[line(contract.QuoteLine, ln, quote.currency) for ln in lines],
        **amounts(quote),
    )


# -- orders ------------------------------------------------------------------------------------------


def order_public(
    order: SalesOrder,
    lines: Sequence[LineBase],
    history: Sequence[OrderHistory],
    returns: Sequence[OrderReturn] = (),
) -> OrderPublic:
    return from_row(
        OrderPublic,
        order,
        lines=[line(OrderLinePublic, ln, order.currency) for ln in lines],
        history=[from_row(HistoryEntry, h) for h in history],
        returns=[OrderReturnPublic.model_validate(r, from_attributes=True) for r in returns],
        **amounts(order),
    )


def order_terms(order: SalesOrder, lines: Sequence[LineBase], account: Account) -> contract.OrderTerms:
    """The order as placed, with the buyer's account: what every other department acts on."""
    return from_row(
        contract.OrderTerms,
        order,
        order_id=order.id,
        lead_id=account.lead_id,
        company=account.company,
        email=account.email,
        buyer_country=account.country,
        vat_id=account.vat_id,
        vat_id_valid=account.vat_id_valid,
        lines=[line(contract.OrderLine, ln, order.currency) for ln in lines],
        **amounts(order),
    )


def order_placed(order: SalesOrder, lines: Sequence[LineBase], account: Account) -> contract.OrderPlaced:
    return contract.OrderPlaced(order_id=order.id, order=order_terms(order, lines, account))


def status_changed(
    order: SalesOrder, status: str, previous: str | None, reason: str | None
) -> contract.OrderStatusChanged:
    return contract.OrderStatusChanged.model_validate(
        {"order_id": order.id, "status": status, "previous_status": previous, "reason": reason}
    )


def order_cancelled(order: SalesOrder, previous: str, reason: str | None) -> contract.OrderCancelled:
    return contract.OrderCancelled.model_validate({"order_id": order.id, "previous_status": previous, "reason": reason})


# -- support tickets ---------------------------------------------------------------------------------


def _local(instant: datetime | None, zone: ZoneInfo) -> datetime | None:
    return None if instant is None else instant.astimezone(zone)


def ticket_public(ticket: Ticket, messages: Sequence[TicketMessage] = ()) -> TicketPublic:
    """Deadlines and times in the buyer's zone: RFC 3339 with the offset the buyer lives in."""
    zone = ZoneInfo(ticket.timezone)
    return from_row(
        TicketPublic,
        ticket,
        first_response_due=ticket.first_response_due.astimezone(zone),
        resolution_due=ticket.resolution_due.astimezone(zone),
        first_responded_at=_local(ticket.first_responded_at, zone),
        resolved_at=_local(ticket.resolved_at, zone),
        created_at=ticket.created_at.astimezone(zone),
        first_response_breached=ticket.first_response_breached_at is not None,
        resolution_breached=ticket.resolution_breached_at is not None,
        messages=[message_public(m, zone) for m in messages],
    )


def message_public(message: TicketMessage, zone: ZoneInfo | None = None) -> MessagePublic:
    at = message.created_at.astimezone(zone) if zone else message.created_at
    return MessagePublic(id=message.id or 0, author=message.author, body=message.body, created_at=at)


def sla_breached(ticket: Ticket, clock: str) -> contract.TicketSlaBreached:
    due = ticket.first_response_due if clock == "first_response" else ticket.resolution_due
    return from_row(
        contract.TicketSlaBreached,
        ticket,
        ticket_id=ticket.id,
        clock=clock,
        due=due.astimezone(ZoneInfo(ticket.timezone)),
    )


def notification_public(row: Any) -> NotificationPublic:
    """A mail outbox row as the account's notification list shows it (`kind` is the template)."""
    return NotificationPublic(
        kind=row.template,
        language=row.language,
        subject=row.subject,
        status=row.status,
        sent_at=row.sent_at,
        created_at=row.created_at,
    )


# -- inquiries ---------------------------------------------------------------------------------------


def inquiry_public(
    inquiry: Inquiry, lines: Sequence[InquiryLineRow], moqs: dict[str, int], quote_ids: Sequence[str]
) -> InquiryPublic:
    return from_row(
        InquiryPublic,
        inquiry,
        lines=[InquiryLinePublic(sku=ln.sku, quantity=ln.quantity, moq=moqs.get(ln.sku, 1)) for ln in lines],
        quote_ids=list(quote_ids),
    )
