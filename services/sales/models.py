"""Tables of the sales service (its own database) and their API schemas, each field set declared once.

Every entity is layered as in full-stack-fastapi-template: `XBase` holds the fields and their
rules; the table (`table=True`), the request (`XCreate`) and the answer (`XPublic`) inherit it and
add only what differs (ids and timestamps, money as a column pair vs a Money object). Table models
do not validate on construction, so the rules on a base guard requests and answers only.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    EmailStr,
    Field,
    StringConstraints,
    computed_field,
    field_validator,
    model_validator,
)
from sqlalchemy import JSON, Column, ForeignKey, Numeric, String, UniqueConstraint
from sqlmodel import AutoString, SQLModel
from sqlmodel import Field as SQLField

from hanse.db import BigId, UTCDateTime, model_base
from hanse.events import utcnow
from hanse.money import DecimalStr, Money
from hanse.validators import (
    PRINTABLE,
    CountryCode,
    CurrencyCode,
    Ident,
    LanguageTag,
    Text200,
    check_minor_unit,
    positive_amount,
)
from services.sales.contract import FxApplied, OrderLine, OrderStatus, PaymentTerms, QuoteLine
from services.sales.domain.sla import Priority, TicketStatus, check_timezone

Model = model_base("sales")

TransportMode = Literal["sea", "air", "courier", "road"]
MAX_QUANTITY = 1_000_000
MAX_LINES = 100

# Money columns: wide enough for any converted total (IDR, VND) with 4 decimal places.
MONEY = Numeric(28, 4)
WEIGHT = Numeric(18, 3)
LENGTH = Numeric(12, 2)


# -- field rules (ValueError → 422 naming the field) ---------------------------------------------------


def normalize_hs_code(value: str) -> str:
    """HS codes are accepted as printed ("8471.30.00", "8471 30") and stored as digits only."""
    digits = value.replace(".", "").replace(" ", "")
    if not digits.isascii() or not digits.isdigit() or not 6 <= len(digits) <= 10:
        raise ValueError("hs_code must be 6 to 10 digits (dots and spaces are ignored)")
    return digits


Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
HsCode = Annotated[str, AfterValidator(normalize_hs_code)]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500, pattern=PRINTABLE)]
VatId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9 .\-/]+$")
]
Incoterm = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8)]
# Free text a person wrote (a ticket, an inquiry's message): line breaks yes, other control characters no.
LongText = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=10_000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
    ),
]
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=40, pattern=r"^[0-9+()./ -]+$")
]
TimeZone = Annotated[str, StringConstraints(max_length=64), AfterValidator(check_timezone)]
Carrier = Literal["dhl-express", "maersk", "lufthansa-cargo", "db-schenker"]


class PriceMoney(Money):
    """A catalogue price: positive, in the currency's minor unit (e.g. 12.50 EUR, 1500 JPY)."""

    @field_validator("amount")
    @classmethod
    def _price(cls, v: Decimal) -> Decimal:
        return positive_amount(v)

    @model_validator(mode="after")
    def _minor_unit(self) -> PriceMoney:
        check_minor_unit(self.amount, self.currency)
        return self


# -- catalogue -----------------------------------------------------------------------------------------


class ProductBase(SQLModel):
    """A catalogue entry; its price, dimensions and tiers are shaped differently per layer."""

    sku: Sku = SQLField(sa_column=Column(String(64), primary_key=True))
    name: Text200 = SQLField(sa_type=AutoString)
    hs_code: HsCode = SQLField(sa_type=String(10))
    origin_country: CountryCode = SQLField(sa_type=String(2))
    unit_weight_kg: DecimalStr = SQLField(gt=0, le=100_000, decimal_places=3, sa_type=WEIGHT)
    moq: Quantity = 1


class Product(ProductBase, Model, table=True):
    __tablename__ = "product"

    unit_price: Decimal = SQLField(sa_type=MONEY)
    currency: str = SQLField(sa_type=String(3))
    length_cm: Decimal | None = SQLField(default=None, sa_type=LENGTH)
    width_cm: Decimal | None = SQLField(default=None, sa_type=LENGTH)
    height_cm: Decimal | None = SQLField(default=None, sa_type=LENGTH)
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)


class Dimensions(BaseModel):
    length: DecimalStr = Field(gt=0, le=10_000, decimal_places=2)
    width: DecimalStr = Field(gt=0, le=10_000, decimal_places=2)
    height: DecimalStr = Field(gt=0, le=10_000, decimal_places=2)


class PriceTierBase(SQLModel):
    min_quantity: Quantity


class PriceTier(PriceTierBase, Model, table=True):
    __tablename__ = "price_tier"
    __table_args__ = (UniqueConstraint("sku", "min_quantity", name="uq_price_tier_sku_min_quantity"),)

    id: int | None = SQLField(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    sku: str = SQLField(sa_column=Column(String(64), ForeignKey("product.sku"), nullable=False, index=True))
    unit_price: Decimal = SQLField(sa_type=MONEY)


class TierIn(PriceTierBase):
    unit_price: PriceMoney


class TierOut(PriceTierBase):
    unit_price: Money


class ProductCreate(ProductBase):
    unit_price: PriceMoney
    dimensions_cm: Dimensions | None = None
    price_tiers: list[TierIn] = Field(default_factory=list, max_length=20)


class ProductPublic(ProductBase):
    unit_price: Money
    dimensions_cm: Dimensions | None = None
    price_tiers: list[TierOut]
    created_at: datetime


# -- accounts ------------------------------------------------------------------------------------------


class AccountBase(SQLModel):
    company: Text200 = SQLField(sa_type=AutoString)
    country: CountryCode = SQLField(sa_type=String(2))
    email: EmailStr = SQLField(sa_type=AutoString)
    currency: CurrencyCode = SQLField(sa_type=String(3))
    vat_id: VatId | None = SQLField(default=None, sa_type=AutoString)
    language: LanguageTag | None = SQLField(default=None, sa_type=AutoString)
    payment_terms: PaymentTerms = SQLField(sa_type=String(16))
    # IANA zone of the buyer (support SLA clocks); None: the country's main zone.
    timezone: TimeZone | None = SQLField(default=None, sa_type=String(64))


class Account(AccountBase, Model, table=True):
    __tablename__ = "account"

    id: str = SQLField(sa_column=Column(String(40), primary_key=True))
    vat_id_valid: bool = False
    # One account per qualified lead, also under redelivery and concurrency.
    lead_id: str | None = SQLField(default=None, sa_column=Column(String(255), unique=True, nullable=True))
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)
    # The active sales frame contract (compliance) and the quote defaults it sets.
    frame_contract_id: str | None = SQLField(default=None, sa_type=String(64))
    frame_incoterm: str | None = SQLField(default=None, sa_type=String(3))
    frame_payment_terms: str | None = SQLField(default=None, sa_type=String(16))


class AccountCreate(AccountBase):
    """An account as sales opens it, or as a qualified lead opens it."""


class AccountUpdate(BaseModel):
    """PATCH of an account: only the fields given change (`null` clears language and timezone)."""

    email: EmailStr | None = None
    language: LanguageTag | None = None
    vat_id: VatId | None = None
    payment_terms: PaymentTerms | None = None
    timezone: TimeZone | None = None


class FrameDefaults(BaseModel):
    contract_id: str
    incoterm: str | None = None
    payment_terms: str | None = None


class AccountPublic(AccountBase):
    # Answered as stored: an erased person's address is a pseudonym (`erased-...@invalid`), no email.
    email: str  # type: ignore[assignment]
    id: str
    vat_id_valid: bool
    lead_id: str | None
    created_at: datetime
    sales_frame: FrameDefaults | None = None


class ContactBase(SQLModel):
    name: Text200 = SQLField(sa_type=AutoString)
    email: EmailStr = SQLField(sa_type=AutoString)
    phone: Phone | None = SQLField(default=None, sa_type=String(40))
    role: Text200 | None = SQLField(default=None, sa_type=AutoString)
    language: LanguageTag | None = SQLField(default=None, sa_type=AutoString)


class Contact(ContactBase, Model, table=True):
    __tablename__ = "contact"

    id: str = SQLField(sa_column=Column(String(40), primary_key=True))
    account_id: str = SQLField(sa_column=Column(String(40), ForeignKey("account.id"), nullable=False, index=True))
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)


class ContactCreate(ContactBase):
    pass


class ContactPublic(ContactBase):
    id: str
    account_id: str
    created_at: datetime


class NotificationPublic(BaseModel):
    """A mail sales wrote to an account (the kernel's mail outbox row)."""

    kind: str
    language: str
    subject: str
    status: str
    sent_at: datetime | None
    created_at: datetime


# -- quotes and orders ---------------------------------------------------------------------------------


class TradeTerms(SQLModel):
    """Who buys, where the goods go, on which Incoterm, in which currency: set by a quote, kept by its order."""

    account_id: Ident = SQLField(sa_type=String(40), foreign_key="account.id", index=True)
    currency: CurrencyCode = SQLField(sa_type=String(3))
    incoterm: Incoterm = SQLField(sa_type=String(3))
    named_place: Text200 = SQLField(sa_type=AutoString)
    destination_country: CountryCode = SQLField(sa_type=String(2))
    mode: str = SQLField(sa_type=String(16))


class Amounts(SQLModel):
    """What goods, freight and insurance come to in the terms' currency, and the ECB rates used (stored)."""

    subtotal: Decimal = SQLField(sa_type=MONEY)
    freight: Decimal | None = SQLField(default=None, sa_type=MONEY)
    insurance: Decimal | None = SQLField(default=None, sa_type=MONEY)
    total: Decimal = SQLField(sa_type=MONEY)
    fx: list[dict] = SQLField(default_factory=list, sa_type=JSON, nullable=False)


class AmountsPublic(SQLModel):
    """The same amounts as answered: Money objects in the terms' currency."""

    freight: Money | None = None
    insurance: Money | None = None
    subtotal: Money
    total: Money
    fx: list[FxApplied]


class LineBase(SQLModel):
    """A priced line with the catalogue data it was priced from: on a quote, and copied to its order."""

    line_no: int
    sku: str = SQLField(sa_type=String(64))
    name: str
    hs_code: str = SQLField(sa_type=String(10))
    origin_country: str = SQLField(sa_type=String(2))
    unit_weight_kg: Decimal = SQLField(sa_type=WEIGHT)
    quantity: int
    unit_price: Decimal = SQLField(sa_type=MONEY)
    amount: Decimal = SQLField(sa_type=MONEY)
    # Why the line differs from what was asked (an inquiry below the MOQ is quoted at the MOQ).
    note: str | None = SQLField(default=None, sa_type=AutoString)


class QuoteBase(TradeTerms):
    valid_until: datetime = SQLField(sa_type=UTCDateTime)
    order_id: str | None = SQLField(default=None, sa_type=String(40))
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)
    # The inquiry (RFQ) the quote answers, the carrier it names, and the payment terms it offers
    # (an active sales frame's, else None: the account's at acceptance).
    inquiry_id: str | None = SQLField(default=None, sa_type=String(40), index=True)
    carrier: str | None = SQLField(default=None, sa_type=String(32))
    payment_terms: str | None = SQLField(default=None, sa_type=String(16))


class Quote(QuoteBase, Amounts, Model, table=True):
    __tablename__ = "quote"

    id: str = SQLField(sa_column=Column(String(40), primary_key=True))
    status: str = SQLField(default="issued", sa_type=String(16))


class QuoteLineRow(LineBase, Model, table=True):
    __tablename__ = "quote_line"

    id: int | None = SQLField(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    quote_id: str = SQLField(sa_column=Column(String(40), ForeignKey("quote.id"), nullable=False, index=True))


class LineIn(BaseModel):
    sku: Ident
    quantity: Quantity


class QuoteCreate(TradeTerms):
    # Without lines, a quote for an inquiry takes the inquiry's lines.
    lines: list[LineIn] | None = Field(default=None, min_length=1, max_length=MAX_LINES)
    mode: TransportMode | None = None  # type: ignore[assignment]  # None: the default mode of the Incoterm
    # None: the account's active sales frame sets it (else 422).
    incoterm: Incoterm | None = None  # type: ignore[assignment]
    inquiry_id: Ident | None = None
    carrier: Carrier | None = None


class LineAmount(BaseModel):
    """Answers show each line's amount: unit price × quantity, exact (the unit price is in minor units).

    A mixin before a line shape that declares `unit_price` and `quantity`.
    """

    @computed_field  # type: ignore[prop-decorator]
    @property
    def amount(self) -> DecimalStr:
        return self.unit_price * self.quantity  # type: ignore[attr-defined]


class QuoteLinePublic(LineAmount, QuoteLine):
    """A quote line as answered: the line as issued, with its product name and amount."""

    name: str
    note: str | None = None


class QuotePublic(QuoteBase, AmountsPublic):
    id: str
    status: Literal["issued", "accepted", "expired"]
    lines: list[QuoteLinePublic]


class OrderBase(TradeTerms):
    # Unique: however many accepts race, one quote places one order.
    quote_id: str = SQLField(sa_column=Column(String(40), ForeignKey("quote.id"), nullable=False, unique=True))
    status: OrderStatus = SQLField(default="placed", sa_column=Column(String(16), nullable=False, index=True))
    payment_terms: PaymentTerms = SQLField(sa_type=String(16))
    paid: bool = False
    # On hold after compliance had cleared it (a re-screening): the status it returns to when cleared.
    held_from: OrderStatus | None = SQLField(default=None, sa_type=String(16))
    carrier: str | None = SQLField(default=None, sa_type=String(32))
    language: str | None = SQLField(default=None, sa_type=AutoString)
    # The shipment as logistics booked it: its carrier and tracking number (for the buyer's mail).
    shipped_with: str | None = SQLField(default=None, sa_type=AutoString)
    tracking_number: str | None = SQLField(default=None, sa_type=AutoString)
    # Everything delivered came back (logistics' inspected returns): a flag, not a status.
    returned: bool = False
    placed_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)


class SalesOrder(OrderBase, Amounts, Model, table=True):
    __tablename__ = "sales_order"

    id: str = SQLField(sa_column=Column(String(40), primary_key=True))


class OrderLineRow(LineBase, Model, table=True):
    __tablename__ = "order_line"

    id: int | None = SQLField(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    order_id: str = SQLField(sa_column=Column(String(40), ForeignKey("sales_order.id"), nullable=False, index=True))


class HistoryEntryBase(SQLModel):
    status: OrderStatus = SQLField(sa_type=String(16))
    previous_status: OrderStatus | None = SQLField(default=None, sa_type=String(16))
    reason: str | None = None
    at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)


class OrderHistory(HistoryEntryBase, Model, table=True):
    """Every status transition of an order, in order."""

    __tablename__ = "order_history"

    id: int | None = SQLField(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    order_id: str = SQLField(sa_column=Column(String(40), ForeignKey("sales_order.id"), nullable=False, index=True))


class HistoryEntry(HistoryEntryBase):
    """One transition in an order's answer."""


class OrderLinePublic(LineAmount, OrderLine):
    """An order line as answered: the line as placed (the contract's shape) with its amount."""


class ReturnLinePublic(BaseModel):
    sku: str
    quantity: int
    restocked: int = 0
    scrapped: int = 0


class OrderReturnBase(SQLModel):
    rma_number: str = SQLField(sa_type=String(64))
    status: Literal["requested", "inspected"] = SQLField(sa_type=String(16))
    reason: str | None = None
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)


class OrderReturn(OrderReturnBase, Model, table=True):
    """A return of (part of) an order, as logistics reports it."""

    __tablename__ = "order_return"

    id: str = SQLField(sa_column=Column(String(64), primary_key=True))  # logistics' return id
    order_id: str = SQLField(sa_column=Column(String(40), ForeignKey("sales_order.id"), nullable=False, index=True))
    lines: list[dict] = SQLField(default_factory=list, sa_type=JSON, nullable=False)


class OrderReturnPublic(OrderReturnBase):
    id: str
    lines: list[ReturnLinePublic]


class OrderSummary(BaseModel):
    """Orders counted per status (every status present, zero included) and in all."""

    by_status: dict[str, int]
    total: int


class OrderPublic(OrderBase, AmountsPublic):
    id: str
    lines: list[OrderLinePublic]
    history: list[HistoryEntry]
    returns: list[OrderReturnPublic] = []


# -- inquiries (RFQ) -----------------------------------------------------------------------------------

InquiryStatus = Literal["open", "quoted", "won", "lost"]


class InquiryBase(SQLModel):
    company: Text200 = SQLField(sa_type=AutoString)
    contact_name: Text200 = SQLField(sa_type=AutoString)
    email: EmailStr = SQLField(sa_type=AutoString)
    country: CountryCode = SQLField(sa_type=String(2))
    language: LanguageTag | None = SQLField(default=None, sa_type=AutoString)
    message: LongText | None = SQLField(default=None, sa_type=AutoString)
    incoterm: Incoterm | None = SQLField(default=None, sa_type=String(8))
    destination_country: CountryCode | None = SQLField(default=None, sa_type=String(2))


class Inquiry(InquiryBase, Model, table=True):
    __tablename__ = "inquiry"

    id: str = SQLField(sa_column=Column(String(40), primary_key=True))
    status: str = SQLField(default="open", sa_column=Column(String(16), nullable=False, index=True))
    # Compliance's screening of the party: None until it answered, then clear/review/blocked.
    screening: str | None = SQLField(default=None, sa_type=String(16))
    lost_reason: str | None = None
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)


class InquiryLineRow(Model, table=True):
    __tablename__ = "inquiry_line"

    id: int | None = SQLField(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    inquiry_id: str = SQLField(sa_column=Column(String(40), ForeignKey("inquiry.id"), nullable=False, index=True))
    line_no: int
    sku: str = SQLField(sa_type=String(64))
    quantity: int


class InquiryCreate(InquiryBase):
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)


class InquiryLinePublic(LineIn):
    # The product's minimum order quantity: a line below it is quoted at the MOQ.
    moq: int


class InquiryPublic(InquiryBase):
    email: str  # type: ignore[assignment]  # a pseudonym once the person's data was erased
    id: str
    status: InquiryStatus
    screening: str | None
    lost_reason: str | None
    lines: list[InquiryLinePublic]
    quote_ids: list[str] = []
    created_at: datetime


# -- support tickets -----------------------------------------------------------------------------------

Channel = Literal["email", "web", "phone", "chat"]
Author = Literal["agent", "customer"]


class TicketBase(SQLModel):
    account_id: Ident = SQLField(sa_type=String(40), foreign_key="account.id", index=True)
    subject: Text200 = SQLField(sa_type=AutoString)
    channel: Channel = SQLField(sa_type=String(8))
    priority: Priority = SQLField(sa_type=String(8))
    order_id: Ident | None = SQLField(default=None, sa_type=String(40))


class Ticket(TicketBase, Model, table=True):
    __tablename__ = "ticket"

    id: str = SQLField(sa_column=Column(String(40), primary_key=True))
    status: str = SQLField(default="open", sa_column=Column(String(16), nullable=False, index=True))
    language: str = SQLField(sa_type=String(35))
    timezone: str = SQLField(sa_type=String(64))
    country: str = SQLField(sa_type=String(2))
    first_response_due: datetime = SQLField(sa_type=UTCDateTime)
    resolution_due: datetime = SQLField(sa_type=UTCDateTime)
    first_responded_at: datetime | None = SQLField(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = SQLField(default=None, sa_type=UTCDateTime)
    # Set while pending or resolved: the resolution clock does not run.
    paused_at: datetime | None = SQLField(default=None, sa_type=UTCDateTime)
    # Each breach is published once: these record that it was.
    first_response_breached_at: datetime | None = SQLField(default=None, sa_type=UTCDateTime)
    resolution_breached_at: datetime | None = SQLField(default=None, sa_type=UTCDateTime)
    breached: bool = SQLField(default=False, index=True)
    # The queue's order as one sortable key: breached first, then the nearest running deadline, then id.
    queue_key: str = SQLField(sa_column=Column(String(80), nullable=False, index=True))
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)


class TicketMessage(Model, table=True):
    __tablename__ = "ticket_message"

    id: int | None = SQLField(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    ticket_id: str = SQLField(sa_column=Column(String(40), ForeignKey("ticket.id"), nullable=False, index=True))
    author: str = SQLField(sa_type=String(8))
    body: str
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)


class TicketCreate(TicketBase):
    body: LongText


class MessageCreate(BaseModel):
    body: LongText
    author: Author


class TicketStatusChange(BaseModel):
    status: Literal["pending", "resolved", "closed"]


class MessagePublic(BaseModel):
    id: int
    author: str
    body: str
    created_at: datetime


class TicketPublic(TicketBase):
    """Deadlines are answered in the buyer's zone (RFC 3339 with its UTC offset)."""

    id: str
    status: TicketStatus
    language: str
    timezone: str
    first_response_due: datetime
    resolution_due: datetime
    first_responded_at: datetime | None
    resolved_at: datetime | None
    breached: bool
    first_response_breached: bool
    resolution_breached: bool
    created_at: datetime
    messages: list[MessagePublic] = []


class CancelRequest(BaseModel):
    reason: Reason | None = None


class InvoiceMail(Model, table=True):
    """An invoice to mail with finance's PDF: written by the event handler, sent by a job that fetches
    the PDF outside any transaction and retries until finance answers (nothing is dead-lettered)."""

    __tablename__ = "invoice_mail"

    invoice_id: str = SQLField(sa_column=Column(String(64), primary_key=True))
    account_id: str = SQLField(sa_type=String(40))
    order_id: str = SQLField(sa_type=String(40))
    number: str = SQLField(sa_type=String(64))
    kind: str = SQLField(sa_type=String(16))
    total: Decimal = SQLField(sa_type=MONEY)
    currency: str = SQLField(sa_type=String(3))
    due_date: date | None = None
    status: str = SQLField(default="pending", sa_column=Column(String(16), nullable=False, index=True))
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = SQLField(default=None, sa_type=UTCDateTime)
