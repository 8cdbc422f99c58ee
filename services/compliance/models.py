"""Tables of the compliance service (its own database) and their API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import pycountry
from pydantic import BaseModel, ConfigDict, field_validator
from sqlalchemy import JSON, Text, UniqueConstraint
from sqlmodel import Field

from hanse.db import UTCDateTime, model_base
from services.compliance.contract import Match, ScreeningResult, SubjectType

Model = model_base("compliance")

CheckStatus = Literal["open", "decided", "closed"]


class Check(Model, table=True):
    """One screening of a lead, an account or an order, and the officer's decision on it."""

    __tablename__ = "compliance_check"
    # One automatic screening per subject: a redelivered or re-published event finds it.
    __table_args__ = (UniqueConstraint("subject_type", "subject_id", name="uq_check_subject"),)

    id: str = Field(primary_key=True, max_length=64)
    subject_type: str = Field(max_length=16)
    subject_id: str = Field(index=True, max_length=255)
    order_id: str | None = Field(default=None, index=True, max_length=255)
    party: str = Field(sa_type=Text)
    # As the event gave it (upper case); not necessarily a valid code, so not length-limited.
    country: str | None = Field(default=None, sa_type=Text)
    result: str = Field(index=True, max_length=16)
    reasons: list[str] = Field(default_factory=list, sa_type=JSON)
    matches: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    status: str = Field(index=True, max_length=16)
    decided_by: str | None = Field(default=None, sa_type=Text)
    decision: str | None = Field(default=None, max_length=16)
    note: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The order as placed, so an officer's later clearance can hand it on to finance and logistics.
    order_terms: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class WatchlistEntry(Model, table=True):
    __tablename__ = "watchlist_entry"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    name_normalised: str = Field(max_length=400)
    country: str | None = Field(default=None, max_length=2)
    reason: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(sa_type=Text)


class SanctionsEntry(Model, table=True):
    """An entity of an OpenSanctions targets.simple.csv (Person, Organization, Company, LegalEntity)."""

    __tablename__ = "sanctions_entry"

    id: str = Field(primary_key=True, max_length=200)
    entity_schema: str = Field(max_length=40)
    name: str = Field(sa_type=Text)
    aliases: list[str] = Field(default_factory=list, sa_type=JSON)
    countries: list[str] = Field(default_factory=list, sa_type=JSON)
    names_normalised: list[str] = Field(default_factory=list, sa_type=JSON)
    dataset: str | None = Field(default=None, sa_type=Text)
    program_ids: str | None = Field(default=None, sa_type=Text)
    sanctions: str | None = Field(default=None, sa_type=Text)
    last_change: str | None = Field(default=None, sa_type=Text)
    imported_at: datetime = Field(sa_type=UTCDateTime)


class AuditRecord(Model, table=True):
    """Append-only: every screening, decision and list change, by whom and when."""

    __tablename__ = "audit_record"

    id: str = Field(primary_key=True, max_length=64)
    at: datetime = Field(sa_type=UTCDateTime)
    actor: str = Field(sa_type=Text)
    action: str = Field(index=True, max_length=32)
    subject_type: str | None = Field(default=None, max_length=16)
    subject_id: str | None = Field(default=None, index=True, max_length=255)
    check_id: str | None = Field(default=None, index=True, max_length=64)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class OrderCancellation(Model, table=True):
    """Tombstone: the order was cancelled (possibly before its placed event reached us)."""

    __tablename__ = "order_cancellation"

    order_id: str = Field(primary_key=True, max_length=255)
    cancelled_at: datetime = Field(sa_type=UTCDateTime)
    reason: str | None = Field(default=None, sa_type=Text)


# -- API schemas -----------------------------------------------------------------------------------


def is_country(code: str) -> bool:
    """An ISO 3166-1 alpha-2 code (upper case)."""
    return len(code) == 2 and code.isascii() and code.isalpha() and pycountry.countries.get(alpha_2=code) is not None


def _text(value: str, name: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"{name} must not be empty")
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    return value


class WatchlistCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    country: str | None = None
    reason: str

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _text(v, "name", 200)

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str) -> str:
        return _text(v, "reason", 1000)

    @field_validator("country")
    @classmethod
    def _country(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        code = v.strip().upper()
        if not is_country(code):
            raise ValueError(f"{v!r} is not an ISO 3166 alpha-2 country code")
        return code


class WatchlistPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    country: str | None
    reason: str
    created_at: datetime
    created_by: str


class DecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["clear", "reject"]
    note: str

    @field_validator("note")
    @classmethod
    def _note(cls, v: str) -> str:
        return _text(v, "note", 2000)


class CheckPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    subject_type: SubjectType
    subject_id: str
    order_id: str | None
    party: str
    country: str | None
    result: ScreeningResult
    reasons: list[str]
    matches: list[Match]
    status: CheckStatus
    decision: Literal["clear", "reject"] | None
    decided_by: str | None
    note: str | None
    created_at: datetime
    decided_at: datetime | None


class SanctionsPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    entity_schema: str
    name: str
    aliases: list[str]
    countries: list[str]
    dataset: str | None
    program_ids: str | None
    last_change: str | None
    imported_at: datetime


class ImportResult(BaseModel):
    imported: int
    skipped: int


class AuditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    at: datetime
    actor: str
    action: str
    subject_type: str | None
    subject_id: str | None
    check_id: str | None
    details: dict[str, Any]
