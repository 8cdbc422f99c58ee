"""Tables of the marketing service (its own database) and their API schemas, each set of fields written once."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)
from sqlalchemy import JSON, Numeric, Text, UniqueConstraint
from sqlmodel import AutoString, Field, SQLModel

from hanse.db import UTCDateTime, model_base
from hanse.money import DecimalStr, Money
from hanse.validators import CountryCode, LanguageTag, language_tag

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
    # Lead scoring (domain/rules.py score_lead): 0-100 and the reasons that add up to it.
    score: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    score_reasons: list[str] = Field(default_factory=list, sa_type=JSON, sa_column_kwargs={"server_default": "[]"})
    qualified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Nurture: how many steps of the campaign's sequence it was sent, and when the next is due
    # (None: nothing due, e.g. no sequence, no consent, converted or unsubscribed).
    nurture_step: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    nurture_due_at: datetime | None = Field(default=None, index=True, sa_type=UTCDateTime)
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
    # Answered as stored: an erased person's address is a pseudonym (`erased-...@invalid`), which
    # EmailStr refuses (a special-use domain), so reading an erased lead must not validate it.
    email: str  # type: ignore[assignment]
    id: str
    status: LeadStatus
    score: int
    score_reasons: list[str]
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
    orders: int  # placed minus cancelled
    cancelled_orders: int = 0
    revenue: Money  # paid minus credited
    credited: Money | None = None
    spend: Money
    roas: DecimalStr | None
    cost_per_lead: Money | None
    currency: str


class CreditedNote(Model, table=True):
    """A credit note finance issued (cancellation or return): its base-currency total is subtracted from revenue."""

    __tablename__ = "credited_note"

    credit_note_id: str = Field(primary_key=True)
    order_id: str = Field(index=True)
    amount_base: Decimal = Field(sa_type=Amount)
    base_currency: str = Field(max_length=3)
    issued_at: datetime = Field(sa_type=UTCDateTime)


class CancelledOrder(Model, table=True):
    """An order sales cancelled: it no longer counts as an order of its campaign."""

    __tablename__ = "cancelled_order"

    order_id: str = Field(primary_key=True)
    cancelled_at: datetime = Field(sa_type=UTCDateTime)


# -- subscribers and the suppression list ----------------------------------------------------------------

SubscriberStatus = Literal["pending", "confirmed", "unsubscribed"]


class SubscriberBase(SQLModel):
    email: EmailStr = Field(max_length=254)
    language: str | None = Field(default=None, max_length=35)

    @field_validator("language")
    @classmethod
    def _language(cls, v: str | None) -> str | None:
        return language_tag(v) if v else None


class Subscriber(SubscriberBase, Model, table=True):
    """An address that asked for the newsletter: double opt-in, with the consent it gave (GDPR proof)."""

    id: str = Field(primary_key=True, max_length=40)
    email: str = Field(max_length=254, unique=True)  # lowercased: one row per address
    email_key: str = Field(max_length=64, index=True)  # keyed hash: joins the suppression list
    status: str = Field(default="pending", index=True, max_length=20)
    consent_text_version: str = Field(max_length=32)
    consent_wording: str = Field(sa_type=Text)
    consent_source: str = Field(max_length=50)
    consented_at: datetime = Field(sa_type=UTCDateTime)
    # The nonce of the one confirmation link that is valid; cleared when used.
    confirm_nonce: str | None = Field(default=None, max_length=40)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    unsubscribed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)


class SubscriberCreate(SubscriberBase, Strict):
    consent: StrictBool
    consent_text_version: str | None = Field(
        default=None, min_length=1, max_length=32, schema_extra={"pattern": r"^[A-Za-z0-9._-]+$"}
    )


class SubscriberPublic(SubscriberBase):
    id: str
    status: SubscriberStatus
    consented_at: datetime
    confirmed_at: datetime | None = None
    created_at: datetime


class SubscriberAccepted(BaseModel):
    id: str
    status: SubscriberStatus


class Suppression(Model, table=True):
    """An address that must never get marketing mail again: kept as a keyed hash, outliving every other row."""

    email_key: str = Field(primary_key=True, max_length=64)
    reason: str = Field(max_length=30)  # unsubscribed, erasure
    created_at: datetime = Field(sa_type=UTCDateTime)


# -- newsletters and nurture sequences ------------------------------------------------------------------


def _no_control_characters(value: str) -> str:
    # The Strict check does not reach into dict values; PostgreSQL cannot store NUL.
    if any((ord(ch) < 32 and ch not in "\n\r\t") or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")
    return value


MailSubject = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_control_characters),
]
MailBody = Annotated[str, StringConstraints(min_length=1, max_length=50_000), AfterValidator(_no_control_characters)]
NewsletterStatus = Literal["draft", "sending", "sent"]


class Localized(Strict):
    """A subject and body per language; both name the same languages."""

    subject: dict[LanguageTag, MailSubject] = Field(min_length=1, max_length=20)
    body: dict[LanguageTag, MailBody] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _same_languages(self) -> Localized:
        if set(self.subject) != set(self.body):
            raise ValueError("subject and body must name the same languages")
        return self


class NewsletterCreate(Localized):
    pass


class Newsletter(Model, table=True):
    """A campaign email to the confirmed subscribers; fanned out to the mail outbox in batches."""

    id: str = Field(primary_key=True, max_length=40)
    campaign_id: str = Field(index=True, max_length=40)
    subject: dict[str, str] = Field(sa_type=JSON)
    body: dict[str, str] = Field(sa_type=JSON)
    status: str = Field(default="draft", index=True, max_length=20)  # draft, sending, sent (fanned out)
    # The last subscriber id written to the outbox: the next batch starts after it.
    cursor: str | None = Field(default=None, max_length=40)
    recipients: int = 0
    skipped: int = 0  # suppressed, or no text in their language nor in en
    created_at: datetime = Field(sa_type=UTCDateTime)
    send_requested_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    fanned_out_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class NewsletterPublic(BaseModel):
    id: str
    campaign_id: str
    status: NewsletterStatus
    subject: dict[str, str]
    body: dict[str, str]
    recipients: int
    skipped: int
    sent: int
    failed: int
    pending: int
    created_at: datetime
    send_requested_at: datetime | None = None


class NewsletterAccepted(BaseModel):
    id: str
    status: NewsletterStatus


class SequenceStepIn(Localized):
    after_days: int = Field(ge=0, le=3650)


class SequencePut(Strict):
    steps: list[SequenceStepIn] = Field(max_length=50)


class SequenceStep(Model, table=True):
    """Step `position` of a campaign's nurture sequence: sent `after_days` after the lead qualified."""

    __tablename__ = "sequence_step"

    campaign_id: str = Field(primary_key=True, max_length=40)
    position: int = Field(primary_key=True)
    after_days: int
    subject: dict[str, str] = Field(sa_type=JSON)
    body: dict[str, str] = Field(sa_type=JSON)


class SequencePublic(BaseModel):
    campaign_id: str
    steps: list[SequenceStepIn]


# -- SEO --------------------------------------------------------------------------------------------------


class Product(Model, table=True):
    """A product sales created (sales.product.created.v1): SEO metadata may be written for it."""

    sku: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)


class SeoBase(SQLModel):
    title: str = Field(min_length=1, max_length=60)
    description: str = Field(min_length=1, max_length=160)
    slug: str = Field(min_length=1, max_length=100, schema_extra={"pattern": r"^[a-z0-9]+(?:-[a-z0-9]+)*$"})


class SeoMetadata(SeoBase, Model, table=True):
    __tablename__ = "seo_metadata"
    __table_args__ = (UniqueConstraint("language", "slug", name="uq_seo_metadata_language_slug"),)

    sku: str = Field(primary_key=True, max_length=64)
    language: str = Field(primary_key=True, max_length=35)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class SeoPut(SeoBase, Strict):
    pass


class SeoPublic(SeoBase):
    sku: str
    language: str
    url: str
    updated_at: datetime
