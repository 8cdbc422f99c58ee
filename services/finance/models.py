"""Tables of the finance service (its own database) and their API schemas, each shape written once."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, StringConstraints
from sqlalchemy import JSON, Column, Numeric, UniqueConstraint
from sqlmodel import AutoString, Field

from hanse.db import UTCDateTime, model_base
from hanse.money import DecimalStr, Money
from services.finance.contract import InvoiceKind

Model = model_base("finance")

InvoiceStatus = Literal["issued", "paid", "void"]
PaymentMethod = Literal["bank_transfer", "letter_of_credit", "card", "paypal", "alipay", "stripe"]
VatTreatment = Literal["domestic", "reverse_charge", "eu_b2c_destination", "export_zero_rated"]
# Stripped, never empty: a blank reference or invoice id is a 422 naming the field.
InvoiceRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
PaymentReference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

MONEY = Numeric(18, 4)
RATE = Numeric(12, 6)


class OrderFile(Model, table=True):
    """One row per order finance has heard of: the lock that serialises an order's events.

    `closed_at` is the tombstone of a cancelled or rejected order: a clearance arriving
    afterwards (events of different topics come in any order) issues nothing.
    """

    __tablename__ = "order_file"

    order_id: str = Field(primary_key=True)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    close_reason: str | None = None


class InvoiceCounter(Model, table=True):
    """The last number used per series and year; incremented in the invoice's own transaction."""

    __tablename__ = "invoice_counter"

    series: str = Field(primary_key=True, max_length=8)
    year: int = Field(primary_key=True)
    last: int = 0


# -- invoices: the fields stored and answered alike; amounts are Decimal columns, Money answers ------


class InvoiceBase(Model):
    """What an invoice row and its answer share: who, where, which terms, and when."""

    id: str = Field(primary_key=True, max_length=40)
    number: str = Field(unique=True, max_length=32)
    kind: InvoiceKind = Field(sa_type=AutoString(length=16))
    status: InvoiceStatus = Field(sa_type=AutoString(length=16))
    currency: str = Field(max_length=3)
    order_id: str = Field(index=True)
    account_id: str = Field(index=True)
    vat_treatment: VatTreatment = Field(sa_type=AutoString(length=32))
    vat_note: str | None = None
    base_currency: str = Field(max_length=3)
    fx_rate_date: date | None = None
    seller_country: str = Field(max_length=2)
    buyer_country: str = Field(max_length=2)
    destination_country: str = Field(max_length=2)
    vat_id: str | None = None
    incoterm: str
    payment_terms: str = Field(max_length=16)
    credited_invoice_id: str | None = Field(default=None, max_length=40)
    issued_at: datetime = Field(sa_type=UTCDateTime)
    due_date: date
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    voided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    void_reason: str | None = None


class Invoice(InvoiceBase, table=True):
    __tablename__ = "invoice"
    __table_args__ = (
        # One invoice of each kind per order, whatever the redelivery or race.
        UniqueConstraint("order_id", "kind", name="uq_invoice_order_kind"),
        UniqueConstraint("series", "year", "sequence", name="uq_invoice_series_year_sequence"),
    )

    series: str = Field(max_length=8)
    year: int
    sequence: int
    goods: Decimal = Field(sa_type=MONEY)
    freight: Decimal = Field(sa_type=MONEY)
    insurance: Decimal = Field(sa_type=MONEY)
    subtotal: Decimal = Field(sa_type=MONEY)
    tax: Decimal = Field(sa_type=MONEY)
    customs_duty: Decimal = Field(sa_type=MONEY)
    import_vat: Decimal = Field(sa_type=MONEY)
    duty: Decimal = Field(sa_type=MONEY)
    total: Decimal = Field(sa_type=MONEY)
    paid_amount: Decimal = Field(default=Decimal(0), sa_type=MONEY)
    vat_rate: Decimal = Field(sa_type=RATE)
    import_vat_rate: Decimal | None = Field(default=None, sa_type=RATE)
    customs_value: Decimal | None = Field(default=None, sa_type=MONEY)
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    fx_rate: Decimal | None = Field(default=None, sa_type=RATE)
    total_base: Decimal | None = Field(default=None, sa_type=MONEY)
    order_fx: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class InvoiceLine(BaseModel):
    sku: str
    name: str
    quantity: int
    unit_price: Money
    amount: Money
    hs_code: str
    origin_country: str
    duty_rate: DecimalStr | None = None  # DDP across a customs border: the rate of the line's HS chapter


class FxInfo(BaseModel):
    base: str
    quote: str
    rate: DecimalStr
    rate_date: date


class InvoicePublic(InvoiceBase):
    """An invoice. `duty` = customs_duty + import_vat (DDP only); total = subtotal + tax + duty."""

    subtotal: Money
    tax: Money
    duty: Money
    total: Money
    vat_rate: DecimalStr
    goods: Money
    freight: Money
    insurance: Money
    customs_value: Money | None = None
    customs_duty: Money
    import_vat: Money
    import_vat_rate: DecimalStr | None = None
    lines: list[InvoiceLine] = []
    open_amount: Money
    paid_amount: Money
    fx_rate: DecimalStr | None = None
    total_base: Money | None = None
    order_fx: list[FxInfo] = []


# -- payments ------------------------------------------------------------------------------------------


class PaymentBase(Model):
    invoice_id: InvoiceRef = Field(index=True, sa_type=AutoString(length=40))
    method: PaymentMethod = Field(sa_type=AutoString(length=32))
    reference: PaymentReference = Field(sa_type=AutoString(length=200))


class PaymentCreate(PaymentBase):
    amount: Money


class Payment(PaymentBase, table=True):
    __tablename__ = "payment"

    id: str = Field(primary_key=True, max_length=40)
    order_id: str = Field(index=True)
    amount: Decimal = Field(sa_type=MONEY)
    currency: str = Field(max_length=3)
    open_amount: Decimal = Field(sa_type=MONEY)  # what was still open right after this payment
    received_at: datetime = Field(sa_type=UTCDateTime)
    received_by: str


class PaymentPublic(PaymentBase):
    id: str
    order_id: str
    amount: Money
    received_at: datetime
    open_amount: Money
