"""Tables of the compliance service (its own database) and their API schemas, each shape written once."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, EmailStr, StringConstraints
from sqlalchemy import JSON, Text, UniqueConstraint
from sqlmodel import AutoString, Field, SQLModel

from hanse.db import UTCDateTime, model_base
from hanse.privacy import PrivacyRequestKind, Retained
from hanse.validators import PRINTABLE, CountryCode, Text200, country_code
from services.compliance.contract import ContractStatus, ContractTerms, Match, ScreeningResult, SubjectType
from services.compliance.domain.rules import INCOTERMS_2020, CheckStatus, Decision
from services.sales.contract import PaymentTerms

Model = model_base("compliance")


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


# An empty country means "none given" rather than a bad code.
OptionalCountry = Annotated[CountryCode | None, BeforeValidator(_blank_is_none)]
# Free text an officer writes: trimmed, never empty; line breaks are allowed.
# No control characters but line breaks and tabs (PostgreSQL refuses NUL in text: never a 500).
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000, pattern=TEXT)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=TEXT)]
# An answer built from a row: every field is always present, so the response schema requires them all.
PUBLIC = ConfigDict(from_attributes=True, json_schema_serialization_defaults_required=True)


# -- screenings ------------------------------------------------------------------------------------


class CheckBase(SQLModel):
    """One screening of a lead, an account or an order, and the officer's decision on it."""

    id: str = Field(primary_key=True, max_length=64)
    subject_type: SubjectType = Field(sa_type=AutoString(length=16))
    subject_id: str = Field(index=True, max_length=255)
    order_id: str | None = Field(default=None, index=True, max_length=255)
    party: str = Field(sa_type=Text)
    # As the event gave it (upper case); not necessarily a valid code, so not length-limited.
    country: str | None = Field(default=None, sa_type=Text)
    result: ScreeningResult = Field(index=True, sa_type=AutoString(length=16))
    reasons: list[str] = Field(default_factory=list, sa_type=JSON)
    status: CheckStatus = Field(index=True, sa_type=AutoString(length=16))
    decision: Decision | None = Field(default=None, sa_type=AutoString(length=16))
    decided_by: str | None = Field(default=None, sa_type=Text)
    note: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Check(CheckBase, Model, table=True):
    __tablename__ = "compliance_check"
    # One automatic screening per subject: a redelivered or re-published event finds it.
    __table_args__ = (UniqueConstraint("subject_type", "subject_id", name="uq_check_subject"),)

    matches: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    # The order as placed, so an officer's later clearance can hand it on to finance and logistics.
    order_terms: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    # Why an open order check holds the order (rules.HoldReason): each is resolved on its own,
    # a licence the export-control reason, an officer the list match.
    hold_reasons: list[str] = Field(default_factory=list, sa_type=JSON)
    # The trade documents the order's shipment needs ([{kind, reason}]), as last published.
    required_documents: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    # The person's address as the event gave it, so a privacy request finds the screening.
    email: str | None = Field(default=None, index=True, max_length=320)


class CheckPublic(CheckBase):
    model_config = PUBLIC

    matches: list[Match]
    hold_reasons: list[str] = []


class DecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Decision
    note: Note


# -- watchlist -------------------------------------------------------------------------------------


class WatchlistBase(SQLModel):
    name: Text200 = Field(sa_type=AutoString(length=200))
    country: OptionalCountry = Field(default=None, sa_type=AutoString(length=2))
    reason: Reason = Field(sa_type=Text)


class WatchlistCreate(WatchlistBase):
    model_config = ConfigDict(extra="forbid")


class WatchlistEntry(WatchlistBase, Model, table=True):
    __tablename__ = "watchlist_entry"

    id: str = Field(primary_key=True, max_length=64)
    name_normalised: str = Field(max_length=400)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(sa_type=Text)


class WatchlistPublic(WatchlistBase):
    model_config = PUBLIC

    id: str
    created_at: datetime
    created_by: str


# -- sanctions list --------------------------------------------------------------------------------


class SanctionsBase(SQLModel):
    """An entity of an OpenSanctions targets.simple.csv (Person, Organization, Company, LegalEntity)."""

    id: str = Field(primary_key=True, max_length=200)
    entity_schema: str = Field(max_length=40)
    name: str = Field(sa_type=Text)
    aliases: list[str] = Field(default_factory=list, sa_type=JSON)
    countries: list[str] = Field(default_factory=list, sa_type=JSON)
    dataset: str | None = Field(default=None, sa_type=Text)
    program_ids: str | None = Field(default=None, sa_type=Text)
    last_change: str | None = Field(default=None, sa_type=Text)
    imported_at: datetime = Field(sa_type=UTCDateTime)


class SanctionsEntry(SanctionsBase, Model, table=True):
    __tablename__ = "sanctions_entry"

    names_normalised: list[str] = Field(default_factory=list, sa_type=JSON)
    sanctions: str | None = Field(default=None, sa_type=Text)


class SanctionsPublic(SanctionsBase):
    model_config = PUBLIC


ImportStatus = Literal["pending", "completed", "failed"]


class SanctionsImportBase(SQLModel):
    """An uploaded list file, imported by the scheduler job (streamed, in batches)."""

    id: str = Field(primary_key=True, max_length=64)
    status: ImportStatus = Field(index=True, sa_type=AutoString(length=16))
    format: Literal["csv", "ftm"] = Field(sa_type=AutoString(length=8))
    filename: str | None = Field(default=None, sa_type=Text)
    replace: bool = False
    entities: int = 0  # screened entities imported (Person, Organization, Company, LegalEntity)
    skipped: int = 0  # well-formed rows of other schemas (Vessel, Address, ...) or without a name
    rejected: int = 0  # malformed rows: a wrong field count, a JSON line that is not an entity
    removed: int = 0  # with replace: entries not in the file
    error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(sa_type=Text)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SanctionsImport(SanctionsImportBase, Model, table=True):
    __tablename__ = "sanctions_import"

    path: str = Field(sa_type=Text)  # the stored upload, removed once imported


class SanctionsImportPublic(SanctionsImportBase):
    model_config = PUBLIC


class ImportAccepted(BaseModel):
    id: str
    status: ImportStatus


class ListState(Model, table=True):
    """One row: versions of the lists; a change makes screeners rebuild their index and re-screen."""

    __tablename__ = "list_state"

    id: int = Field(primary_key=True)
    sanctions_version: int = 0
    watchlist_version: int = 0
    rules_version: int = 0  # export-control rules
    # The sum of the versions the last re-screening covered (it runs when the lists moved past it).
    rescreened_version: int = 0

    def total(self) -> int:
        return self.sanctions_version + self.watchlist_version + self.rules_version


class OrderDispatch(Model, table=True):
    """Tombstone: the order's goods left (logistics.shipment.dispatched.v1); re-screening skips it."""

    __tablename__ = "order_dispatch"

    order_id: str = Field(primary_key=True, max_length=255)
    dispatched_at: datetime = Field(sa_type=UTCDateTime)


# -- export control and licences ------------------------------------------------------------------

HsPrefix = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=12, pattern=r"^[0-9]+$")]


def _destination(value: str) -> str:
    return "*" if value.strip() == "*" else country_code(value)


# An ISO alpha-2 country code, or "*" for every destination.
Destination = Annotated[str, StringConstraints(max_length=8), AfterValidator(_destination)]


class ExportControlBase(SQLModel):
    """An HS prefix under control for some destinations ("*": every destination)."""

    hs_prefix: HsPrefix = Field(index=True, max_length=12)
    destinations: list[Destination] = Field(sa_type=JSON, min_length=1, max_length=300)
    regime: Text200 = Field(sa_type=AutoString(length=200))
    note: Reason = Field(sa_type=Text)


class ExportControlCreate(ExportControlBase):
    model_config = ConfigDict(extra="forbid")


class ExportControlRule(ExportControlBase, Model, table=True):
    __tablename__ = "export_control_rule"

    id: str = Field(primary_key=True, max_length=64)
    source: str = Field(max_length=16)  # "default" (shipped data) or "officer"
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(sa_type=Text)


class ExportControlPublic(ExportControlBase):
    model_config = PUBLIC

    id: str
    source: str
    created_at: datetime
    created_by: str


class LicenceBase(SQLModel):
    order_id: str = Field(index=True, min_length=1, max_length=255, schema_extra={"pattern": PRINTABLE})
    number: Text200 = Field(sa_type=AutoString(length=200))
    authority: Text200 = Field(sa_type=AutoString(length=200))
    valid_until: date


class LicenceCreate(LicenceBase):
    model_config = ConfigDict(extra="forbid")


class Licence(LicenceBase, Model, table=True):
    __tablename__ = "export_licence"

    id: str = Field(primary_key=True, max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(sa_type=Text)


class LicencePublic(LicenceBase):
    model_config = PUBLIC

    id: str
    created_at: datetime
    created_by: str
    valid: bool = False  # valid_until not passed when recorded
    cleared: bool = False  # the order's hold ended with it


class RequiredDocumentPublic(BaseModel):
    kind: str
    reason: str


# -- contracts -------------------------------------------------------------------------------------

PartyType = Literal["account", "supplier"]
ContractKind = Literal["sales_frame", "supply", "distribution", "nda"]


def _incoterm(value: str) -> str:
    term = value.strip().upper()
    if term not in INCOTERMS_2020:
        raise ValueError(f"{value!r} is not an Incoterms 2020 rule ({' '.join(sorted(INCOTERMS_2020))})")
    return term


class ContractTermsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incoterm: Annotated[str, StringConstraints(max_length=8), AfterValidator(_incoterm)] | None = None
    payment_terms: PaymentTerms | None = None
    governing_law: Text200 | None = None


class ContractBase(SQLModel):
    party_type: PartyType = Field(sa_type=AutoString(length=16))
    party_id: str = Field(index=True, min_length=1, max_length=255, schema_extra={"pattern": PRINTABLE})
    kind: ContractKind = Field(sa_type=AutoString(length=16))
    title: Text200 = Field(sa_type=AutoString(length=200))
    effective_from: date
    expires_on: date = Field(index=True)


class ContractCreate(ContractBase):
    model_config = ConfigDict(extra="forbid")

    terms: ContractTermsIn = ContractTermsIn()


class Contract(ContractBase, Model, table=True):
    __tablename__ = "contract"

    id: str = Field(primary_key=True, max_length=64)
    status: ContractStatus = Field(index=True, sa_type=AutoString(length=16))
    terms: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(sa_type=Text)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class ContractPublic(ContractBase):
    model_config = PUBLIC

    id: str
    status: ContractStatus
    terms: ContractTerms
    created_at: datetime
    created_by: str
    updated_at: datetime


class ContractStatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["under_review", "active", "terminated"]


# -- privacy requests (GDPR) ------------------------------------------------------------------------


class PrivacyRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: PrivacyRequestKind
    email: EmailStr = Field(max_length=254)


class PrivacyRequest(Model, table=True):
    __tablename__ = "privacy_request"

    id: str = Field(primary_key=True, max_length=64)
    kind: PrivacyRequestKind = Field(sa_type=AutoString(length=16))
    # The address while the request runs; an erasure keeps only its pseudonym once completed.
    email: str = Field(index=True, max_length=320)
    status: Literal["open", "completed"] = Field(index=True, sa_type=AutoString(length=16))
    due: date
    expected: list[str] = Field(default_factory=list, sa_type=JSON)  # departments that must answer
    proof: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(sa_type=Text)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PrivacyAnswerRow(Model, table=True):
    """One department's answer to a request (hanse.privacy.PrivacyAnswer as JSON)."""

    __tablename__ = "privacy_answer"

    request_id: str = Field(primary_key=True, max_length=64)
    department: str = Field(primary_key=True, max_length=32)
    answer: dict[str, Any] = Field(sa_type=JSON)
    received_at: datetime = Field(sa_type=UTCDateTime)


class PrivacyRequestAccepted(BaseModel):
    id: str
    kind: PrivacyRequestKind
    status: Literal["open", "completed"]
    due: date


class DepartmentAnswer(BaseModel):
    status: Literal["pending", "answered"]
    records: int = 0
    erased: int = 0
    pseudonymised: int = 0
    retained: list[Retained] = []


class PrivacyRequestPublic(PrivacyRequestAccepted):
    departments: dict[str, DepartmentAnswer]
    proof: str | None = None
    created_at: datetime
    completed_at: datetime | None = None


class PrivacyExport(BaseModel):
    request_id: str
    kind: PrivacyRequestKind
    status: Literal["open", "completed"]
    departments: dict[str, dict[str, Any]]


# -- audit trail -----------------------------------------------------------------------------------


class AuditBase(SQLModel):
    """Append-only: every screening, decision and list change, by whom and when."""

    id: str = Field(primary_key=True, max_length=64)
    at: datetime = Field(sa_type=UTCDateTime)
    actor: str = Field(sa_type=Text)
    action: str = Field(index=True, max_length=32)
    subject_type: str | None = Field(default=None, max_length=16)
    subject_id: str | None = Field(default=None, index=True, max_length=255)
    check_id: str | None = Field(default=None, index=True, max_length=64)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class AuditRecord(AuditBase, Model, table=True):
    __tablename__ = "audit_record"
    __table_args__ = (UniqueConstraint("seq", name="uq_audit_record_seq"),)

    # The hash chain: entry n hashes entry n-1's hash and its own canonical content.
    seq: int
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(Model, table=True):
    """One row: the chain's last entry. Writers lock it, so entries chain one after another."""

    __tablename__ = "audit_head"

    id: int = Field(primary_key=True)
    seq: int
    hash: str = Field(max_length=64)


class AuditVerification(BaseModel):
    intact: bool
    entries: int
    first_broken: str | None = None
    first_broken_seq: int | None = None


class AuditPublic(AuditBase):
    model_config = PUBLIC

    seq: int
    hash: str


class OrderCancellation(Model, table=True):
    """Tombstone: the order was cancelled (possibly before its placed event reached us)."""

    __tablename__ = "order_cancellation"

    order_id: str = Field(primary_key=True, max_length=255)
    cancelled_at: datetime = Field(sa_type=UTCDateTime)
    reason: str | None = Field(default=None, sa_type=Text)
