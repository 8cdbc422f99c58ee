"""Tables of the procurement service (its own database) and their API schemas, each shape written once."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, EmailStr, StringConstraints, field_validator, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import JSON, Column, Numeric, String, UniqueConstraint
from sqlmodel import AutoString, Field, SQLModel

from hanse.db import UTCDateTime, model_base
from hanse.events import utcnow
from hanse.money import DecimalStr, Money
from hanse.validators import PRINTABLE, CountryCode, CurrencyCode, LanguageTag, Text200, check_minor_unit

Model = model_base("procurement")

SupplierStatus = Literal["pending", "approved", "blocked"]
# cancelled: a draft, or a sent order of which nothing arrived, that the buyer withdrew.
PurchaseOrderStatus = Literal["draft", "sent", "partially_received", "received", "closed", "cancelled"]
InspectionStatus = Literal["pending", "done"]
# Net days a supplier gives us (prepaid: we pay before it ships).
SupplierPaymentTerms = Literal["prepaid", "net_15", "net_30", "net_45", "net_60", "net_90"]
Incoterm = Literal["EXW", "FCA", "CPT", "CIP", "DAP", "DPU", "DDP", "FAS", "FOB", "CFR", "CIF"]

MONEY = Numeric(28, 4)
RATE = Numeric(18, 6)
MAX_QUANTITY = 1_000_000
MAX_LINES = 100

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]


def _warehouse_code(value: str) -> str:
    """Logistics' warehouse codes are upper case: "ham" and "HAM" are one warehouse."""
    code = value.strip().upper()
    if not re.fullmatch(r"[A-Z0-9][A-Z0-9_-]{0,31}", code):
        raise ValueError("a warehouse code is 1-32 characters of A-Z, 0-9, '_' or '-', starting with a letter or digit")
    return code


WarehouseCode = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_warehouse_code)]
VatId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9 .\-/]+$")
]
Notes = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500, pattern=PRINTABLE)]
Quantity = Annotated[int, PydanticField(ge=1, le=MAX_QUANTITY)]
Count = Annotated[int, PydanticField(ge=0, le=MAX_QUANTITY)]


class NonNegativePrice(Money):
    """A purchase price: not below zero, in the currency's minor unit (12.50 EUR, 1500 JPY)."""

    @field_validator("amount")
    @classmethod
    def _not_negative(cls, v: Decimal) -> Decimal:
        if v < 0:
            raise ValueError("a price cannot be below zero")
        if v >= Decimal("1e12"):
            raise ValueError("amount is too large")
        return v

    @model_validator(mode="after")
    def _minor_unit(self) -> NonNegativePrice:
        check_minor_unit(self.amount, self.currency)
        return self


class Counter(Model, table=True):
    """The last number used per series (PO, RN) and year; incremented in the document's own transaction."""

    __tablename__ = "number_counter"

    series: str = Field(primary_key=True, max_length=8)
    year: int = Field(primary_key=True)
    last: int = 0


class KnownWarehouse(Model, table=True):
    """A warehouse logistics has named in a stock event: what a reorder rule may refer to."""

    __tablename__ = "known_warehouse"

    code: str = Field(primary_key=True, max_length=32)
    first_seen: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# -- suppliers -----------------------------------------------------------------------------------------


class SupplierBase(SQLModel):
    name: Text200 = Field(sa_type=AutoString(length=200))
    country: CountryCode = Field(sa_type=String(2))
    currency: CurrencyCode = Field(sa_type=String(3))
    email: EmailStr = Field(sa_type=AutoString(length=320), index=True)
    vat_id: VatId | None = Field(default=None, sa_type=AutoString(length=32))
    language: LanguageTag | None = Field(default=None, sa_type=AutoString(length=35))
    lead_time_days: int = Field(ge=0, le=365)
    payment_terms: SupplierPaymentTerms = Field(sa_type=AutoString(length=16))


class SupplierCreate(SupplierBase):
    pass


class SupplierUpdate(BaseModel):
    """A change of a supplier's details; a new name or country is screened again."""

    name: Text200 | None = None
    country: CountryCode | None = None
    currency: CurrencyCode | None = None
    email: EmailStr | None = None
    vat_id: VatId | None = None
    language: LanguageTag | None = None
    lead_time_days: int | None = PydanticField(default=None, ge=0, le=365)
    payment_terms: SupplierPaymentTerms | None = None


class Supplier(SupplierBase, Model, table=True):
    __tablename__ = "supplier"

    # Stored as given (table models do not validate), so the request's rules above are the guard.
    email: str = Field(sa_type=AutoString(length=320), index=True)
    id: str = Field(primary_key=True, max_length=40)
    status: SupplierStatus = Field(default="pending", sa_type=AutoString(length=16))
    check_id: str | None = Field(default=None, max_length=64)
    screening_reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    screened_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SupplierPublic(SupplierBase):
    email: str
    id: str
    status: SupplierStatus
    check_id: str | None = None
    screening_reasons: list[str] = []
    created_at: datetime
    screened_at: datetime | None = None
    prices: list[PricePublic] = []


class PriceIn(BaseModel):
    unit_price: NonNegativePrice
    moq: Quantity = 1


class SupplierPrice(Model, table=True):
    __tablename__ = "supplier_price"

    supplier_id: str = Field(primary_key=True, max_length=40)
    sku: str = Field(primary_key=True, max_length=64, index=True)
    unit_price: Decimal = Field(sa_type=MONEY)
    currency: str = Field(max_length=3)
    moq: int = 1
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PricePublic(BaseModel):
    supplier_id: str
    sku: str
    unit_price: Money
    moq: int
    updated_at: datetime


# -- purchase orders -----------------------------------------------------------------------------------


class LineIn(BaseModel):
    sku: Sku
    quantity: Quantity
    unit_price: NonNegativePrice | None = None  # omitted: the supplier's price for the SKU


class PurchaseOrderCreate(BaseModel):
    supplier_id: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    warehouse: WarehouseCode
    currency: CurrencyCode
    incoterm: Incoterm
    lines: list[LineIn] = PydanticField(min_length=1, max_length=MAX_LINES)

    @field_validator("incoterm", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.strip().upper() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one_line_per_sku(self) -> PurchaseOrderCreate:
        seen: set[str] = set()
        for line in self.lines:
            if line.sku in seen:
                raise ValueError(f"sku {line.sku} appears twice: one line per SKU")
            seen.add(line.sku)
        return self


class PurchaseOrderBase(SQLModel):
    id: str = Field(primary_key=True, max_length=40)
    number: str = Field(unique=True, max_length=32)
    supplier_id: str = Field(index=True, max_length=40)
    warehouse: str = Field(max_length=32)
    currency: str = Field(max_length=3)
    incoterm: str = Field(max_length=3)
    status: PurchaseOrderStatus = Field(sa_type=AutoString(length=24), index=True)
    base_currency: str = Field(max_length=3)
    fx_rate_date: date | None = None
    reorder_rule_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(max_length=200)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PurchaseOrder(PurchaseOrderBase, Model, table=True):
    __tablename__ = "purchase_order"
    __table_args__ = (
        UniqueConstraint("year", "sequence", name="uq_purchase_order_year_sequence"),
        # One purchase order per shortage of a rule: the second racer's insert fails here.
        UniqueConstraint("reorder_rule_id", "reorder_round", name="uq_purchase_order_reorder_round"),
    )

    year: int
    sequence: int
    reorder_round: int | None = None
    total: Decimal = Field(sa_type=MONEY)
    fx_rate: Decimal | None = Field(default=None, sa_type=RATE)  # units of base per one unit of currency
    total_base: Decimal = Field(sa_type=MONEY)


class PurchaseOrderLine(Model, table=True):
    __tablename__ = "purchase_order_line"
    __table_args__ = (UniqueConstraint("purchase_order_id", "sku", name="uq_purchase_order_line_sku"),)

    id: str = Field(primary_key=True, max_length=40)
    purchase_order_id: str = Field(index=True, max_length=40)
    position: int
    sku: str = Field(index=True, max_length=64)
    quantity: int
    unit_price: Decimal | None = Field(default=None, sa_type=MONEY)
    received: int = 0
    accepted: int = 0
    rejected: int = 0


class LinePublic(BaseModel):
    sku: str
    quantity: int
    unit_price: Money | None
    amount: Money | None
    received: int
    accepted: int
    rejected: int


class ReturnNotePublic(BaseModel):
    id: str
    number: str
    inspection_id: str
    lines: list[dict[str, Any]]
    created_at: datetime


class PurchaseOrderPublic(PurchaseOrderBase):
    total: Money
    total_base: Money
    fx_rate: DecimalStr | None = None
    lines: list[LinePublic]
    receipts: list[ReceiptPublic] = []
    return_notes: list[ReturnNotePublic] = []
    bills: list[BillPublic] = []  # finance's supplier bills for the accepted goods


# -- receipts, inspections, return notes ---------------------------------------------------------------


class ReceiptLineIn(BaseModel):
    sku: Sku
    quantity: Quantity


class ReceiptCreate(BaseModel):
    lines: list[ReceiptLineIn] = PydanticField(min_length=1, max_length=MAX_LINES)


class Receipt(Model, table=True):
    __tablename__ = "receipt"

    id: str = Field(primary_key=True, max_length=40)
    purchase_order_id: str = Field(index=True, max_length=40)
    inspection_id: str = Field(unique=True, max_length=40)
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    received_by: str = Field(max_length=200)


class ReceiptPublic(BaseModel):
    id: str
    purchase_order_id: str
    inspection_id: str
    lines: list[dict[str, Any]]
    received_at: datetime


class ResultLineIn(BaseModel):
    sku: Sku
    accepted: Count
    rejected: Count
    notes: Notes | None = None


class InspectionResult(BaseModel):
    lines: list[ResultLineIn] = PydanticField(min_length=1, max_length=MAX_LINES)


class Inspection(Model, table=True):
    __tablename__ = "inspection"

    id: str = Field(primary_key=True, max_length=40)
    receipt_id: str = Field(unique=True, max_length=40)
    purchase_order_id: str = Field(index=True, max_length=40)
    status: InspectionStatus = Field(default="pending", sa_type=AutoString(length=16))
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    inspected_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    inspected_by: str | None = Field(default=None, max_length=200)
    accepted_value: Decimal | None = Field(default=None, sa_type=MONEY)
    return_note_id: str | None = Field(default=None, max_length=40)


class InspectionPublic(BaseModel):
    id: str
    receipt_id: str
    purchase_order_id: str
    status: InspectionStatus
    lines: list[dict[str, Any]]
    created_at: datetime
    inspected_at: datetime | None = None
    accepted_value: Money | None = None
    return_note_id: str | None = None


class ReturnNote(Model, table=True):
    """Rejected units going back to the supplier (one note per inspection that rejected any)."""

    __tablename__ = "return_note"

    id: str = Field(primary_key=True, max_length=40)
    number: str = Field(unique=True, max_length=32)
    purchase_order_id: str = Field(index=True, max_length=40)
    inspection_id: str = Field(unique=True, max_length=40)
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SupplierBill(Model, table=True):
    """Finance's bill for accepted goods (finance.supplier_bill.recorded.v1), shown on the order."""

    __tablename__ = "supplier_bill"

    bill_id: str = Field(primary_key=True, max_length=64)
    purchase_order_id: str = Field(index=True, max_length=40)
    supplier_id: str = Field(max_length=40)
    currency: str = Field(max_length=3)
    total: Decimal = Field(sa_type=MONEY)
    due_date: date
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BillPublic(BaseModel):
    bill_id: str
    total: Money
    due_date: date


# -- reorder rules -------------------------------------------------------------------------------------


class ReorderRuleIn(BaseModel):
    warehouse: WarehouseCode
    min_available: Count
    reorder_quantity: Quantity
    supplier_id: Annotated[str, StringConstraints(min_length=1, max_length=40)]


class ReorderRule(Model, table=True):
    __tablename__ = "reorder_rule"
    __table_args__ = (UniqueConstraint("sku", "warehouse", name="uq_reorder_rule_sku_warehouse"),)

    id: str = Field(primary_key=True, max_length=40)
    sku: str = Field(max_length=64, index=True)
    warehouse: str = Field(max_length=32)
    min_available: int
    reorder_quantity: int
    supplier_id: str = Field(max_length=40)
    # The purchase order raised for the current shortage; while it is open no other is raised.
    open_purchase_order_id: str | None = Field(default=None, max_length=40)
    rounds: int = 0  # shortages that raised a purchase order so far
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ReorderRulePublic(BaseModel):
    id: str
    sku: str
    warehouse: str
    min_available: int
    reorder_quantity: int
    supplier_id: str
    open_purchase_order_id: str | None = None
    rounds: int
    updated_at: datetime


SupplierPublic.model_rebuild()
PurchaseOrderPublic.model_rebuild()
