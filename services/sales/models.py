"""Tables of the sales service (its own database) and their API schemas."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

import pycountry
from babel import Locale, UnknownLocaleError
from pydantic import AfterValidator, BaseModel, EmailStr, Field, StringConstraints, field_validator, model_validator
from sqlalchemy import JSON, Column, ForeignKey, Numeric, String, UniqueConstraint
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from hanse.db import BigId, UTCDateTime, model_base
from hanse.events import utcnow
from hanse.money import DecimalStr, Money, minor_unit, validate_currency
from services.sales.contract import FxApplied, OrderStatus, PaymentTerms

Model = model_base("sales")

TransportMode = Literal["sea", "air", "courier", "road"]
MAX_QUANTITY = 1_000_000
MAX_LINES = 100

# Money columns: wide enough for any converted total (IDR, VND) with 4 decimal places.
MONEY = Numeric(28, 4)
WEIGHT = Numeric(18, 3)
LENGTH = Numeric(12, 2)


# -- tables ----------------------------------------------------------------------------------------


class Product(Model, table=True):
    __tablename__ = "product"

    sku: str = SQLField(sa_column=Column(String(64), primary_key=True))
    name: str
    hs_code: str = SQLField(sa_type=String(10))
    origin_country: str = SQLField(sa_type=String(2))
    unit_price: Decimal = SQLField(sa_type=MONEY)
    currency: str = SQLField(sa_type=String(3))
    unit_weight_kg: Decimal = SQLField(sa_type=WEIGHT)
    length_cm: Decimal | None = SQLField(default=None, sa_type=LENGTH)
    width_cm: Decimal | None = SQLField(default=None, sa_type=LENGTH)
    height_cm: Decimal | None = SQLField(default=None, sa_type=LENGTH)
    moq: int = 1
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)


class PriceTier(Model, table=True):
    __tablename__ = "price_tier"
    __table_args__ = (UniqueConstraint("sku", "min_quantity", name="uq_price_tier_sku_min_quantity"),)

    id: int | None = SQLField(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    sku: str = SQLField(sa_column=Column(String(64), ForeignKey("product.sku"), nullable=False, index=True))
    min_quantity: int
    unit_price: Decimal = SQLField(sa_type=MONEY)


class Account(Model, table=True):
    __tablename__ = "account"

    id: str = SQLField(sa_column=Column(String(40), primary_key=True))
    company: str
    country: str = SQLField(sa_type=String(2))
    email: str
    currency: str = SQLField(sa_type=String(3))
    vat_id: str | None = None
    vat_id_valid: bool = False
    language: str | None = None
    payment_terms: str = SQLField(sa_type=String(16))
    # One account per qualified lead, also under redelivery and concurrency.
    lead_id: str | None = SQLField(default=None, sa_column=Column(String(255), unique=True, nullable=True))
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)


class Quote(Model, table=True):
    __tablename__ = "quote"

    id: str = SQLField(sa_column=Column(String(40), primary_key=True))
    account_id: str = SQLField(sa_column=Column(String(40), ForeignKey("account.id"), nullable=False, index=True))
    status: str = SQLField(default="issued", sa_type=String(16))
    currency: str = SQLField(sa_type=String(3))
    incoterm: str = SQLField(sa_type=String(3))
    named_place: str
    destination_country: str = SQLField(sa_type=String(2))
    mode: str = SQLField(sa_type=String(16))
    subtotal: Decimal = SQLField(sa_type=MONEY)
    freight: Decimal | None = SQLField(default=None, sa_type=MONEY)
    insurance: Decimal | None = SQLField(default=None, sa_type=MONEY)
    total: Decimal = SQLField(sa_type=MONEY)
    fx: list[dict] = SQLField(default_factory=list, sa_column=Column(JSON, nullable=False))
    valid_until: datetime = SQLField(sa_type=UTCDateTime)
    order_id: str | None = SQLField(default=None, sa_type=String(40))
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)


class PricedLine(SQLModel):
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


class QuoteLineRow(PricedLine, Model, table=True):
    __tablename__ = "quote_line"

    id: int | None = SQLField(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    quote_id: str = SQLField(sa_column=Column(String(40), ForeignKey("quote.id"), nullable=False, index=True))


class SalesOrder(Model, table=True):
    __tablename__ = "sales_order"

    id: str = SQLField(sa_column=Column(String(40), primary_key=True))
    # Unique: however many accepts race, one quote places one order.
    quote_id: str = SQLField(sa_column=Column(String(40), ForeignKey("quote.id"), nullable=False, unique=True))
    account_id: str = SQLField(sa_column=Column(String(40), ForeignKey("account.id"), nullable=False, index=True))
    status: str = SQLField(default="placed", sa_column=Column(String(16), nullable=False, index=True))
    currency: str = SQLField(sa_type=String(3))
    incoterm: str = SQLField(sa_type=String(3))
    named_place: str
    destination_country: str = SQLField(sa_type=String(2))
    mode: str = SQLField(sa_type=String(16))
    payment_terms: str = SQLField(sa_type=String(16))
    subtotal: Decimal = SQLField(sa_type=MONEY)
    freight: Decimal | None = SQLField(default=None, sa_type=MONEY)
    insurance: Decimal | None = SQLField(default=None, sa_type=MONEY)
    total: Decimal = SQLField(sa_type=MONEY)
    fx: list[dict] = SQLField(default_factory=list, sa_column=Column(JSON, nullable=False))
    paid: bool = False
    placed_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)


class OrderLineRow(PricedLine, Model, table=True):
    __tablename__ = "order_line"

    id: int | None = SQLField(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    order_id: str = SQLField(sa_column=Column(String(40), ForeignKey("sales_order.id"), nullable=False, index=True))


class OrderHistory(Model, table=True):
    """Every status transition of an order, in order."""

    __tablename__ = "order_history"

    id: int | None = SQLField(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    order_id: str = SQLField(sa_column=Column(String(40), ForeignKey("sales_order.id"), nullable=False, index=True))
    status: str = SQLField(sa_type=String(16))
    previous_status: str | None = SQLField(default=None, sa_type=String(16))
    reason: str | None = None
    at: datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime)


# -- field rules of the request schemas (ValueError → 422 naming the field) ------------------------


def country_code(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 2 or not code.isalpha() or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def normalize_hs_code(value: str) -> str:
    """HS codes are accepted as printed ("8471.30.00", "8471 30") and stored as digits only."""
    digits = value.replace(".", "").replace(" ", "")
    if not digits.isascii() or not digits.isdigit() or not 6 <= len(digits) <= 10:
        raise ValueError("hs_code must be 6 to 10 digits (dots and spaces are ignored)")
    return digits


def language_tag(value: str) -> str:
    tag = value.strip()
    try:
        if not tag or len(tag) > 35:
            raise ValueError
        Locale.parse(tag.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        raise ValueError(f"{value!r} is not a known language tag (e.g. de, en-GB)") from None
    return tag


def positive_amount(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("amount must be greater than 0")
    if value >= Decimal("1e12"):
        raise ValueError("amount is too large")
    return value


def check_minor_unit(amount: Decimal, currency: str) -> None:
    places = -minor_unit(currency).as_tuple().exponent
    if amount != amount.quantize(minor_unit(currency)):
        raise ValueError(f"{currency} amounts have at most {places} decimals")


# -- request schemas -------------------------------------------------------------------------------

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
# Free text: no control characters (PostgreSQL refuses NUL; nobody means a tab in a name).
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=PRINTABLE)]
Ident = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=PRINTABLE)]
CountryCode = Annotated[str, AfterValidator(country_code)]
CurrencyCode = Annotated[str, AfterValidator(validate_currency)]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500, pattern=PRINTABLE)]


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


class Dimensions(BaseModel):
    length: Decimal = Field(gt=0, le=10_000, decimal_places=2)
    width: Decimal = Field(gt=0, le=10_000, decimal_places=2)
    height: Decimal = Field(gt=0, le=10_000, decimal_places=2)


class TierIn(BaseModel):
    min_quantity: Quantity
    unit_price: PriceMoney


class ProductCreate(BaseModel):
    sku: Sku
    name: Text200
    hs_code: Annotated[str, AfterValidator(normalize_hs_code)]
    origin_country: CountryCode
    unit_price: PriceMoney
    unit_weight_kg: Decimal = Field(gt=0, le=100_000, decimal_places=3)
    dimensions_cm: Dimensions | None = None
    moq: Quantity = 1
    price_tiers: list[TierIn] = Field(default_factory=list, max_length=20)


class AccountCreate(BaseModel):
    company: Text200
    country: CountryCode
    email: EmailStr
    currency: CurrencyCode
    vat_id: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9 .\-/]+$")
        ]
        | None
    ) = None
    language: Annotated[str, AfterValidator(language_tag)] | None = None
    payment_terms: PaymentTerms


class LineIn(BaseModel):
    sku: Ident
    quantity: Quantity


class QuoteCreate(BaseModel):
    account_id: Ident
    currency: CurrencyCode
    incoterm: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8)]
    named_place: Text200
    destination_country: CountryCode
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)
    mode: TransportMode | None = None


class CancelRequest(BaseModel):
    reason: Reason | None = None


# -- answers ---------------------------------------------------------------------------------------


class TierOut(BaseModel):
    min_quantity: int
    unit_price: Money


class DimensionsOut(BaseModel):
    length: DecimalStr
    width: DecimalStr
    height: DecimalStr


class ProductPublic(BaseModel):
    sku: str
    name: str
    hs_code: str
    origin_country: str
    unit_price: Money
    unit_weight_kg: DecimalStr
    dimensions_cm: DimensionsOut | None = None
    moq: int
    price_tiers: list[TierOut]
    created_at: datetime


class AccountPublic(BaseModel):
    id: str
    company: str
    country: str
    email: str
    currency: str
    vat_id: str | None
    vat_id_valid: bool
    language: str | None
    payment_terms: PaymentTerms
    lead_id: str | None
    created_at: datetime


class QuoteLinePublic(BaseModel):
    sku: str
    name: str
    quantity: int
    unit_price: DecimalStr
    amount: DecimalStr


class QuotePublic(BaseModel):
    id: str
    status: Literal["issued", "accepted", "expired"]
    account_id: str
    currency: str
    incoterm: str
    named_place: str
    destination_country: str
    mode: str
    lines: list[QuoteLinePublic]
    freight: Money | None = None
    insurance: Money | None = None
    subtotal: Money
    total: Money
    valid_until: datetime
    fx: list[FxApplied]
    order_id: str | None = None
    created_at: datetime


class OrderLinePublic(BaseModel):
    sku: str
    name: str
    quantity: int
    unit_price: DecimalStr
    amount: DecimalStr
    hs_code: str
    origin_country: str
    unit_weight_kg: DecimalStr


class HistoryEntry(BaseModel):
    status: OrderStatus
    previous_status: OrderStatus | None = None
    at: datetime
    reason: str | None = None


class OrderPublic(BaseModel):
    id: str
    status: OrderStatus
    account_id: str
    quote_id: str
    currency: str
    incoterm: str
    named_place: str
    destination_country: str
    mode: str
    payment_terms: PaymentTerms
    lines: list[OrderLinePublic]
    freight: Money | None = None
    insurance: Money | None = None
    subtotal: Money
    total: Money
    fx: list[FxApplied]
    paid: bool
    history: list[HistoryEntry]
    placed_at: datetime
    created_at: datetime
    updated_at: datetime
