"""Events the sales department publishes (topic hanse.sales).

`OrderTerms` is the order as placed: compliance copies it into `compliance.order.cleared.v1`
so finance and logistics act on clearance without waiting for a second topic.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from hanse.events import EventPayload
from hanse.money import DecimalStr, Money
from hanse.privacy import PrivacyAnswer

PaymentTerms = Literal["prepaid", "net_30", "letter_of_credit"]
OrderStatus = Literal[
    "placed",
    "on_hold",
    "rejected",
    "backordered",
    "confirmed",
    "ready_to_ship",
    "shipped",
    "delivered",
    "completed",
    "cancelled",
]


class FxApplied(BaseModel):
    """The ECB reference rate used to convert catalogue prices into the document currency."""

    model_config = ConfigDict(frozen=True)

    base: str
    quote: str
    rate: DecimalStr
    rate_date: date


class ProductCreated(EventPayload, event_type="sales.product.created.v1", subject="sku"):
    sku: str
    name: str
    hs_code: str
    origin_country: str
    unit_price: Money
    unit_weight_kg: DecimalStr


class AccountCreated(EventPayload, event_type="sales.account.created.v1", subject="account_id"):
    """An account was opened; `lead_id` is set when it came from a qualified lead."""

    account_id: str
    lead_id: str | None = None
    company: str
    country: str
    email: str
    currency: str
    vat_id: str | None = None
    vat_id_valid: bool = False
    language: str | None = None
    payment_terms: PaymentTerms


class QuoteLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    quantity: int
    unit_price: DecimalStr


class QuoteIssued(EventPayload, event_type="sales.quote.issued.v1", subject="quote_id"):
    quote_id: str
    account_id: str
    currency: str
    incoterm: str
    named_place: str
    destination_country: str
    lines: list[QuoteLine]
    freight: Money | None = None
    insurance: Money | None = None
    subtotal: Money
    total: Money
    valid_until: datetime
    fx: list[FxApplied] = []
    # Added: the transport mode the freight was priced for (sea, air, courier, road).
    mode: str | None = None
    # Added: the carrier the quote named (a logistics carrier id), and the inquiry it answers.
    carrier: str | None = None
    inquiry_id: str | None = None


class OrderLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    name: str
    quantity: int
    unit_price: DecimalStr
    hs_code: str
    origin_country: str
    unit_weight_kg: DecimalStr

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


class OrderTerms(BaseModel):
    """Everything the other departments need to know about an order, as placed."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    quote_id: str
    account_id: str
    lead_id: str | None = None
    company: str
    email: str
    buyer_country: str
    vat_id: str | None = None
    vat_id_valid: bool = False
    destination_country: str
    incoterm: str
    named_place: str
    currency: str
    payment_terms: PaymentTerms
    lines: list[OrderLine]
    freight: Money | None = None
    insurance: Money | None = None
    subtotal: Money  # goods only, in `currency`
    total: Money  # goods + freight + insurance, before tax and duty
    fx: list[FxApplied] = []
    placed_at: datetime
    # Added: the transport mode the quote priced freight for (sea, air, courier, road).
    mode: str | None = None
    # Added: the carrier the quote named (a logistics carrier id offering `mode`), else None:
    # logistics picks the cheapest; the buyer's language for documents and mail.
    carrier: str | None = None
    language: str | None = None


class OrderPlaced(EventPayload, event_type="sales.order.placed.v1", subject="order_id"):
    order_id: str
    order: OrderTerms


class OrderStatusChanged(EventPayload, event_type="sales.order.status_changed.v1", subject="order_id"):
    """Every status transition of an order, for timelines and partners."""

    order_id: str
    status: OrderStatus
    previous_status: OrderStatus | None = None
    reason: str | None = None


class OrderCancelled(EventPayload, event_type="sales.order.cancelled.v1", subject="order_id"):
    """Cancelled before shipping: logistics releases stock, finance voids the open invoice."""

    order_id: str
    previous_status: OrderStatus
    reason: str | None = None


class AccountUpdated(EventPayload, event_type="sales.account.updated.v1", subject="account_id"):
    """An account's details changed (`changed` names the fields); the values are the new ones."""

    account_id: str
    changed: list[str]
    email: str
    language: str | None = None
    vat_id: str | None = None
    vat_id_valid: bool = False
    payment_terms: PaymentTerms
    timezone: str | None = None


class InquiryLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    quantity: int


class InquiryReceived(EventPayload, event_type="sales.inquiry.received.v1", subject="inquiry_id"):
    """An RFQ arrived (storefront form or staff); compliance screens the party like a lead."""

    inquiry_id: str
    company: str
    contact_name: str
    email: str
    country: str
    language: str | None = None
    lines: list[InquiryLine]


class TicketSlaBreached(EventPayload, event_type="sales.ticket.sla_breached.v1", subject="ticket_id"):
    """A support ticket missed a deadline (published once per clock): `due` in the buyer's zone."""

    ticket_id: str
    account_id: str
    order_id: str | None = None
    priority: Literal["low", "normal", "high", "urgent"]
    clock: Literal["first_response", "resolution"]
    due: datetime
    timezone: str
    status: str


class PrivacyAnswered(PrivacyAnswer, event_type="sales.privacy_request.answered.v1"):
    """Sales' answer to a privacy request: accounts, contacts, inquiries, tickets and mail sent."""
