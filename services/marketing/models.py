"""Tables of the marketing service (its own database) and their API schemas."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, StrictBool, field_validator
from pydantic import Field as Param
from sqlalchemy import Numeric, Text, UniqueConstraint
from sqlmodel import Field

from hanse.db import UTCDateTime, model_base
from hanse.money import DecimalStr, Money

Model = model_base("marketing")

Amount = Numeric(18, 4)
MAX_AMOUNT = Decimal(10) ** 14  # what Numeric(18, 4) holds
MAX_MESSAGE = 5000

Channel = Literal["seo", "ppc", "social", "email", "marketplace", "trade_show"]
LeadStatus = Literal["new", "qualified", "disqualified", "converted"]


# -- tables ------------------------------------------------------------------------------------------


class Campaign(Model, table=True):
    __table_args__ = (UniqueConstraint("utm_campaign", name="uq_campaign_utm_campaign"),)

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    channel: str = Field(max_length=20)
    budget_amount: Decimal = Field(sa_type=Amount)
    budget_currency: str = Field(max_length=3)
    utm_campaign: str = Field(max_length=100)  # stored lowercase; leads match it case-insensitively
    starts_on: date | None = None
    ends_on: date | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)


class SpendEntry(Model, table=True):
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
    note: str | None = Field(default=None, max_length=500)
    on: date
    created_at: datetime = Field(sa_type=UTCDateTime)


class Lead(Model, table=True):
    id: str = Field(primary_key=True, max_length=40)
    status: str = Field(default="new", index=True, max_length=20)
    status_reason: str | None = Field(default=None, sa_type=Text)
    campaign_id: str | None = Field(default=None, index=True, max_length=40)
    account_id: str | None = Field(default=None, index=True)
    company: str = Field(max_length=200)
    contact_name: str = Field(max_length=200)
    email: str = Field(max_length=254)
    country: str = Field(max_length=2)
    language: str | None = Field(default=None, max_length=35)
    message: str | None = Field(default=None, sa_type=Text)
    utm_source: str | None = Field(default=None, max_length=200)
    utm_medium: str | None = Field(default=None, max_length=200)
    utm_campaign: str | None = Field(default=None, max_length=200)
    consent_marketing: bool
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


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


# -- API schemas ---------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _printable(cls, v: object) -> object:
        # NUL and other control characters are refused (PostgreSQL cannot store NUL in text).
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


class CampaignCreate(_Strict):
    name: str = Param(min_length=1, max_length=200)
    channel: Channel
    budget: Budget
    utm_campaign: str = Param(min_length=1, max_length=100)
    starts_on: date | None = None
    ends_on: date | None = None

    @field_validator("utm_campaign")
    @classmethod
    def _utm(cls, v: str) -> str:
        from services.marketing import domain  # domain imports these models; rules stay there

        if not domain.is_utm_code(v):
            raise ValueError("use 1-100 characters a-z, 0-9, '.', '_' or '-'")
        return domain.normalise_utm_campaign(v) or v


class CampaignPublic(BaseModel):
    id: str
    name: str
    channel: Channel
    budget: Money
    utm_campaign: str
    spend: Money
    starts_on: date | None = None
    ends_on: date | None = None
    created_at: datetime


class SpendCreate(_Strict):
    amount: SpendAmount
    note: str | None = Param(default=None, max_length=500)
    on: date | None = None


class SpendPublic(BaseModel):
    id: str
    campaign_id: str
    amount: Money
    amount_base: Money
    fx_rate: DecimalStr
    fx_rate_date: date
    note: str | None = None
    on: date
    created_at: datetime


class Utm(_Strict):
    source: str | None = Param(default=None, max_length=200)
    medium: str | None = Param(default=None, max_length=200)
    campaign: str | None = Param(default=None, max_length=200)


class LeadCreate(_Strict):
    company: str = Param(min_length=1, max_length=200)
    contact_name: str = Param(min_length=1, max_length=200)
    email: EmailStr = Param(max_length=254)
    country: str = Param(min_length=2, max_length=2)
    language: str | None = Param(default=None, max_length=35)
    message: str | None = Param(default=None, max_length=MAX_MESSAGE)
    utm: Utm | None = None
    consent_marketing: StrictBool
    consent_text_version: str | None = Param(default=None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")
    # Honeypot: humans never see this field; a bot that fills it gets a 202 and nothing is stored.
    website: str | None = Param(default=None, max_length=500)

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        from services.marketing import domain

        return domain.normalise_country(v)

    @field_validator("language")
    @classmethod
    def _language(cls, v: str | None) -> str | None:
        from services.marketing import domain

        return domain.normalise_language(v) if v else None


class LeadAccepted(BaseModel):
    id: str
    status: LeadStatus


class LeadPublic(BaseModel):
    id: str
    status: LeadStatus
    status_reason: str | None = None
    campaign_id: str | None = None
    account_id: str | None = None
    company: str
    contact_name: str
    email: str
    country: str
    language: str | None = None
    message: str | None = None
    utm: Utm | None = None
    consent_marketing: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, lead: Lead) -> LeadPublic:
        utm = None
        if lead.utm_source or lead.utm_medium or lead.utm_campaign:
            utm = Utm(source=lead.utm_source, medium=lead.utm_medium, campaign=lead.utm_campaign)
        return cls(**lead.model_dump(exclude={"utm_source", "utm_medium", "utm_campaign"}), utm=utm)


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
