"""Tables of the marketing service (its own database) and their API schemas, each set of fields written once."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, StrictBool, field_validator
from sqlalchemy import Numeric, Text, UniqueConstraint
from sqlmodel import AutoString, Field, SQLModel

from hanse.db import UTCDateTime, model_base
from hanse.money import DecimalStr, Money
from hanse.validators import CountryCode, language_tag

Model = model_base("marketing")

Amount = Numeric(18, 4)
MAX_AMOUNT = Decimal(10) ** 14  # what Numeric(18, 4) holds
MAX_MESSAGE = 5000

Channel = Literal["seo", "ppc", "social", "email", "marketplace", "trade_show"]
LeadStatus = Literal["new", "qualified", "disqualified", "converted"]

_UTM_CODE = re.compile(r"[A-Za-z0-9._-]{1,100}")


# -- field rules of marketing's input ------------------------------------------------------------------


def is_utm_code(value: str) -> bool:
    return _UTM_CODE.fullmatch(value) is not None


def normalise_utm_campaign(value: str | None) -> str | None:
    """UTM campaign codes match case-insensitively and ignore surrounding blanks."""
    if value is None:
        return None
    value = value.strip().lower()
    return value or None


class Strict(SQLModel):
    """Request bodies: unknown fields refused, blanks trimmed, no control characters."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _printable(cls, v: object) -> object:
        # NUL and other control characters are refused (PostgreSQL cannot store NUL in text);
        # unlike the kernel's PRINTABLE, a lead's message may span lines.
        if isinstance(v, str) and any((ord(ch) < 32 and ch not in "\n\r\t") or ord(ch) == 127 for ch in v):
            raise ValueError("must not contain control characters")
        return v


class Amount4(Money):
    """Money that fits the Numeric(18, 4) columns (the currency's minor unit is checked in domain)."""

    @field_validator("amount")
    @classmethod
    def _fits(cls, v: Decimal) -> Decimal:
        if abs(v) >= MAX_AMOUNT:
            raise ValueError(f"amount must be below {MAX_AMOUNT}")
        return v


class Budget(Amount4):
    @field_validator("amount")
    @classmethod
    def _not_negative(cls, v: Decimal) -> Decimal:
        if v < 0:
            raise ValueError("budget must not be negative")
        return v


class SpendAmount(Amount4):
    @field_validator("amount")
    @classmethod
    def _positive(cls, v: Decimal) -> Decimal:
        if v <= 0:
            raise ValueError("spend must be greater than 0")
        return v


# -- campaigns ------------------------------------------------------------------------------------------


class CampaignBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    channel: Channel = Field(sa_type=AutoString(length=20))
    utm_campaign: str = Field(min_length=1, max_length=100)  # stored lowercase; leads match it case-insensitively
    starts_on: date | None = None
    ends_on: date | None = None

    @field_validator("utm_campaign")
    @classmethod
    def _utm(cls, v: str) -> str:
        if not is_utm_code(v):
            raise ValueError("use 1-100 characters a-z, 0-9, '.', '_' or '-'")
        return normalise_utm_campaign(v) or v


class Campaign(CampaignBase, Model, table=True):
    __table_args__ = (UniqueConstraint("utm_campaign", name="uq_campaign_utm_campaign"),)

    id: str = Field(primary_key=True, max_length=40)
    budget_amount: Decimal = Field(sa_type=Amount)
    budget_currency: str = Field(max_length=3)
    created_at: datetime = Field(sa_type=UTCDateTime)


class CampaignCreate(CampaignBase, Strict):
    budget: Budget


class CampaignPublic(CampaignBase):
    id: str
    budget: Money
    spend: Money
    created_at: datetime


# -- spend ----------------------------------------------------------------------------------------------


class SpendBase(SQLModel):
    note: str | None = Field(default=None, max_length=500)


class SpendEntry(SpendBase, Model, table=True):
    """Money spent on a campaign, in its budget currency, and in the base currency at the ECB rate of `on`."""

    __tablename__ = "spend_entry"

    id: str = Field(primary_key=True, max_length=40)
    campaign_id: str = Field(index=True, max_length=40)
    amount: Decimal = Field(sa_type=Amount)
    currency: str = Field(max_length=3)
    amount_base: Decimal = Field(sa_type=Amount)
    base_currency: str = Field(max_length=3)
    fx_rate: Decimal = Field(sa_type=Numeric(18, 6))
    fx_rate_date: date
    on: date
    created_at: datetime = Field(sa_type=UTCDateTime)


class SpendCreate(SpendBase, Strict):
    amount: SpendAmount
    on: date | None = None


class SpendPublic(SpendBase):
    id: str
    campaign_id: str
    amount: Money
    amount_base: Money
    fx_rate: DecimalStr
    fx_rate_date: date
    on: date
    created_at: datetime


# -- leads ----------------------------------------------------------------------------------------------


class LeadBase(SQLModel):
    company: str = Field(min_length=1, max_length=200)
    contact_name: str = Field(min_length=1, max_length=200)
    email: EmailStr = Field(max_length=254)
    country: CountryCode = Field(sa_type=AutoString(length=2))
    language: str | None = Field(default=None, max_length=35)
    message: str | None = Field(default=None, max_length=MAX_MESSAGE, sa_type=Text)
    consent_marketing: StrictBool

    @field_validator("language")
    @classmethod
    def _language(cls, v: str | None) -> str | None:
        return language_tag(v) if v else None


class Lead(LeadBase, Model, table=True):
    id: str = Field(primary_key=True, max_length=40)
    status: str = Field(default="new", index=True, max_length=20)
    status_reason: str | None = Field(default=None, sa_type=Text)
    campaign_id: str | None = Field(default=None, index=True, max_length=40)
    account_id: str | None = Field(default=None, index=True)
    utm_source: str | None = Field(default=None, max_length=200)
    utm_medium: str | None = Field(default=None, max_length=200)
    utm_campaign: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Utm(Strict):
    source: str | None = Field(default=None, max_length=200)
    medium: str | None = Field(default=None, max_length=200)
    campaign: str | None = Field(default=None, max_length=200)


class LeadCreate(LeadBase, Strict):
    utm: Utm | None = None
    consent_text_version: str | None = Field(
        default=None, min_length=1, max_length=32, schema_extra={"pattern": r"^[A-Za-z0-9._-]+$"}
    )
    # Honeypot: humans never see this field; a bot that fills it gets a 202 and nothing is stored.
    website: str | None = Field(default=None, max_length=500)


class LeadPublic(LeadBase):
    id: str
    status: LeadStatus
    status_reason: str | None = None
    campaign_id: str | None = None
    account_id: str | None = None
    utm: Utm | None = None
    created_at: datetime
    updated_at: datetime


class LeadAccepted(BaseModel):
    id: str
    status: LeadStatus


class ConsentRecord(Model, table=True):
    """GDPR proof: what the person agreed to (or declined), to which text version, when and where."""

    __tablename__ = "consent_record"

    id: str = Field(primary_key=True, max_length=40)
    lead_id: str = Field(index=True, max_length=40)
    email: str = Field(index=True, max_length=254)
    purpose: str = Field(max_length=50)
    granted: bool
    text_version: str = Field(max_length=32)
    source: str = Field(max_length=50)
    recorded_at: datetime = Field(sa_type=UTCDateTime)


# -- attribution: other departments' facts, joined to leads when performance is asked --------------------


class PlacedOrder(Model, table=True):
    """An order sales placed; its campaign is found through its lead (or its account's lead) at query time."""

    __tablename__ = "placed_order"

    order_id: str = Field(primary_key=True)
    lead_id: str | None = Field(default=None, index=True)
    account_id: str = Field(index=True)
    placed_at: datetime = Field(sa_type=UTCDateTime)


class PaidInvoice(Model, table=True):
    """A settled invoice: its base-currency total is the paid revenue credited to the order's campaign."""

    __tablename__ = "paid_invoice"

    invoice_id: str = Field(primary_key=True)
    order_id: str = Field(index=True)
    amount_base: Decimal = Field(sa_type=Amount)
    base_currency: str = Field(max_length=3)
    fx_rate_date: date
    paid_at: datetime = Field(sa_type=UTCDateTime)


class CampaignPerformance(BaseModel):
    campaign_id: str
    leads: int
    qualified: int
    converted: int
    orders: int
    revenue: Money
    spend: Money
    roas: DecimalStr | None
    cost_per_lead: Money | None
    currency: str
