"""Tables of the finance service (its own database) and their API schemas, each shape written once."""

from __future__ import annotations

import datetime as _dt
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, StringConstraints
from pydantic import Field as PydField
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
    # The shipment was booked: the commercial invoice is due (issued at once, or right after the
    # proforma when the booking overtook the clearance on another topic).
    shipment_id: str | None = None
    booked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


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
    named_place: str | None = None
    language: str | None = Field(default=None, max_length=16)
    buyer_name: str | None = None
    buyer_email: str | None = None
    # A proforma replaced by the commercial invoice (its payments carried over to it).
    superseded_by_id: str | None = Field(default=None, max_length=40)
    return_id: str | None = Field(default=None, max_length=40)
    issued_at: datetime = Field(sa_type=UTCDateTime)
    due_date: date
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    voided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    void_reason: str | None = None


class Invoice(InvoiceBase, table=True):
    __tablename__ = "invoice"
    __table_args__ = (
        # One invoice of each kind per order and reason (`ref`: "" for proforma and commercial,
        # "cancellation" or the return id for credit notes), whatever the redelivery or race.
        UniqueConstraint("order_id", "kind", "ref", name="uq_invoice_order_kind_ref"),
        UniqueConstraint("series", "year", "sequence", name="uq_invoice_series_year_sequence"),
    )

    series: str = Field(max_length=8)
    year: int
    sequence: int
    ref: str = Field(default="", max_length=40)
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
    # What the ledger has taken off receivables for the payments, in the base currency.
    paid_base: Decimal = Field(default=Decimal(0), sa_type=MONEY)
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
    provider: str | None = Field(default=None, max_length=16)


class PaymentPublic(PaymentBase):
    id: str
    order_id: str
    amount: Money
    received_at: datetime
    open_amount: Money
    provider: str | None = None


# -- the ledger: entries are written once and never changed; a correction is a reversal --------------


class LedgerEntry(Model, table=True):
    __tablename__ = "ledger_entry"

    id: str = Field(primary_key=True, max_length=40)
    date: _dt.date = Field(index=True)
    memo: str
    source: str = Field(max_length=32)  # invoice, credit_note, void, supersede, payment, supplier_bill, fx
    source_id: str = Field(index=True, max_length=40)
    currency: str = Field(max_length=3)  # the base currency
    reverses_id: str | None = Field(default=None, max_length=40)
    posted_at: datetime = Field(sa_type=UTCDateTime)


class LedgerLine(Model, table=True):
    __tablename__ = "ledger_line"

    id: int | None = Field(default=None, primary_key=True)
    entry_id: str = Field(index=True, max_length=40, foreign_key="ledger_entry.id")
    account: str = Field(index=True, max_length=8)
    debit: Decimal = Field(sa_type=MONEY)
    credit: Decimal = Field(sa_type=MONEY)


class LedgerLinePublic(BaseModel):
    account: str
    debit: DecimalStr
    credit: DecimalStr


class LedgerEntryPublic(BaseModel):
    id: str
    date: _dt.date
    memo: str
    source: str
    source_id: str
    currency: str
    reverses_id: str | None = None
    lines: list[LedgerLinePublic]


class TrialBalanceAccount(BaseModel):
    account: str
    name: str
    type: str
    debit: DecimalStr
    credit: DecimalStr
    balance: DecimalStr  # debit - credit


class TrialBalance(BaseModel):
    at: _dt.date
    currency: str
    accounts: list[TrialBalanceAccount]
    total_debit: DecimalStr
    total_credit: DecimalStr


class AgingAccount(BaseModel):
    account_id: str
    amounts: dict[str, Money]  # per bucket
    total: Money


class AgingReport(BaseModel):
    at: date
    currency: str
    buckets: list[str]
    accounts: list[AgingAccount]
    totals: dict[str, Money]
    total: Money


class RevenueRow(BaseModel):
    key: str
    revenue: Money


class ForecastWeek(BaseModel):
    week_start: date
    receipts: Money
    payments: Money
    net: Money


# -- provider webhooks: every delivery is kept, a mismatch waits for review --------------------------

ProviderName = Literal["stripe", "paypal", "alipay"]


class ProviderEvent(Model, table=True):
    __tablename__ = "provider_event"
    __table_args__ = (UniqueConstraint("provider", "delivery_id", name="uq_provider_event_delivery"),)

    id: str = Field(primary_key=True, max_length=40)
    provider: str = Field(max_length=16)
    delivery_id: str = Field(max_length=200)  # the provider's own event / notification id
    invoice_id: str | None = Field(default=None, max_length=40)
    amount: Decimal | None = Field(default=None, sa_type=MONEY)
    currency: str | None = Field(default=None, max_length=3)
    status: str = Field(max_length=16)  # applied | review
    reason: str | None = None
    payment_id: str | None = Field(default=None, max_length=40)
    received_at: datetime = Field(sa_type=UTCDateTime)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ProviderEventPublic(BaseModel):
    id: str
    provider: str
    delivery_id: str
    invoice_id: str | None
    amount: Money | None
    status: str
    reason: str | None
    payment_id: str | None
    received_at: datetime


# -- letters of credit -------------------------------------------------------------------------------


class LetterOfCreditCreate(BaseModel):
    order_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    issuing_bank: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    amount: Money
    expiry_date: date
    latest_shipment_date: date


class LetterOfCredit(Model, table=True):
    __tablename__ = "letter_of_credit"

    id: str = Field(primary_key=True, max_length=40)
    order_id: str = Field(index=True)
    issuing_bank: str
    amount: Decimal = Field(sa_type=MONEY)
    currency: str = Field(max_length=3)
    expiry_date: date
    latest_shipment_date: date
    status: str = Field(max_length=16)  # open | settled
    documents: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    payment_id: str | None = Field(default=None, max_length=40)
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    presented_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LetterOfCreditPublic(BaseModel):
    id: str
    order_id: str
    issuing_bank: str
    amount: Money
    expiry_date: date
    latest_shipment_date: date
    status: str
    documents: list[str]
    payment_id: str | None
    recorded_at: datetime
    presented_at: datetime | None


class PresentationCreate(BaseModel):
    documents: Annotated[
        list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]],
        PydField(max_length=50),
    ]


# -- supplier bills ----------------------------------------------------------------------------------


class Supplier(Model, table=True):
    """A supplier as procurement registered it: its country decides the VAT of its bills."""

    __tablename__ = "supplier"

    supplier_id: str = Field(primary_key=True, max_length=64)
    name: str
    country: str = Field(max_length=2)


BillStatus = Literal["open", "paid"]


class SupplierBill(Model, table=True):
    __tablename__ = "supplier_bill"

    id: str = Field(primary_key=True, max_length=40)
    inspection_id: str = Field(unique=True, max_length=64)
    supplier_id: str = Field(index=True)
    supplier_name: str | None = None
    purchase_order_id: str = Field(index=True)
    purchase_order_number: str | None = None
    currency: str = Field(max_length=3)
    net: Decimal = Field(sa_type=MONEY)
    tax: Decimal = Field(sa_type=MONEY)
    total: Decimal = Field(sa_type=MONEY)
    total_base: Decimal = Field(sa_type=MONEY)
    vat_treatment: str = Field(default="domestic", max_length=32)  # domestic, reverse_charge, import
    fx_rate: Decimal | None = Field(default=None, sa_type=RATE)
    fx_rate_date: date | None = None
    due_date: date
    status: str = Field(max_length=16)
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    payment_reference: str | None = None


class BillPaymentCreate(BaseModel):
    """Paying a supplier bill in full (the money left the bank)."""

    reference: PaymentReference


class SupplierBillPublic(BaseModel):
    id: str
    supplier_id: str
    supplier_name: str | None
    purchase_order_id: str
    purchase_order_number: str | None
    currency: str
    net: Money
    tax: Money
    total: Money
    vat_treatment: str
    due_date: date
    status: str
    recorded_at: datetime
    paid_at: datetime | None = None
    payment_reference: str | None = None
