"""Tables of the sales service (its own database) and their API schemas, each field set declared once.

Every entity is layered as in full-stack-fastapi-template: `XBase` holds the fields and their
rules; the table (`table=True`), the request (`XCreate`) and the answer (`XPublic`) inherit it and
add only what differs (ids and timestamps, money as a column pair vs a Money object). Table models
do not validate on construction, so the rules on a base guard requests and answers only.
"""

from __future__ import annotations

from datetime import datetime
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


class Account(AccountBase, Model, table=True):
    __tablename__ = "account"

    id: str = SQLField(sa_column=Column(String(40), primary_key=True))
    vat_id_valid: bool = False
    # One account per qualified lead, also under redelivery and concurrency.
    lead_id: str | None = SQLField(default=None, sa_column=Column(String(255), unique=True, nullable=True))
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)


class AccountCreate(AccountBase):
    """An account as sales opens it, or as a qualified lead opens it."""


class AccountPublic(AccountBase):
    id: str
    vat_id_valid: bool
    lead_id: str | None
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


class QuoteBase(TradeTerms):
    valid_until: datetime = SQLField(sa_type=UTCDateTime)
    order_id: str | None = SQLField(default=None, sa_type=String(40))
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)


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
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)
    mode: TransportMode | None = None  # type: ignore[assignment]  # None: the default mode of the Incoterm


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


class OrderPublic(OrderBase, AmountsPublic):
    id: str
    lines: list[OrderLinePublic]
    history: list[HistoryEntry]


class CancelRequest(BaseModel):
    reason: Reason | None = None
