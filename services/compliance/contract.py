"""Events the compliance department publishes (topic hanse.compliance)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict

from hanse.events import EventPayload
from hanse.privacy import PrivacyRequestKind
from services.sales.contract import OrderTerms, PaymentTerms

SubjectType = Literal["lead", "account", "order", "inquiry", "supplier"]
DocumentKind = Literal[
    "commercial_invoice", "packing_list", "certificate_of_origin", "export_declaration", "export_licence"
]
ScreeningResult = Literal["clear", "review", "blocked"]


class Match(BaseModel):
    model_config = ConfigDict(frozen=True)

    list: Literal["watchlist", "sanctions"]
    entry_id: str
    name: str
    score: float  # rapidfuzz similarity 0..100 (a score, not money)
    country: str | None = None


class ScreeningCompleted(EventPayload, event_type="compliance.screening.completed.v1", subject="subject_id"):
    """A party (lead, account or order) was screened, or an officer decided a review.

    `result` is final unless it is `review`; an officer's decision publishes this event again
    with `decided_by` set and `result` clear or blocked.
    """

    check_id: str
    subject_type: SubjectType
    subject_id: str
    result: ScreeningResult
    reasons: list[str] = []
    matches: list[Match] = []
    decided_by: str | None = None


class OrderCleared(EventPayload, event_type="compliance.order.cleared.v1", subject="order_id"):
    """The order may proceed; carries the order terms so finance and logistics can act at once."""

    order_id: str
    check_id: str
    decided_by: str | None = None
    order: OrderTerms


class OrderHeld(EventPayload, event_type="compliance.order.held.v1", subject="order_id"):
    order_id: str
    check_id: str
    reasons: list[str]
    matches: list[Match] = []


class OrderRejected(EventPayload, event_type="compliance.order.rejected.v1", subject="order_id"):
    order_id: str
    check_id: str
    reasons: list[str]
    decided_by: str | None = None


class RequiredDocument(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: DocumentKind
    reason: str


class DocumentsRequired(EventPayload, event_type="compliance.documents.required.v1", subject="order_id"):
    """The trade documents an order's shipment needs; published when the order is screened (before
    `order.cleared`, same key, so logistics has the list first) and again whenever it changes."""

    order_id: str
    documents: list[RequiredDocument]


class LicenceRecorded(EventPayload, event_type="compliance.licence.recorded.v1", subject="order_id"):
    licence_id: str
    order_id: str
    number: str
    authority: str
    valid_until: date


class ContractTerms(BaseModel):
    model_config = ConfigDict(frozen=True)

    incoterm: str | None = None
    payment_terms: PaymentTerms | None = None
    governing_law: str | None = None


ContractStatus = Literal["draft", "under_review", "active", "terminated", "expired"]


class ContractStatusChanged(EventPayload, event_type="compliance.contract.status_changed.v1", subject="contract_id"):
    """A contract moved in its review workflow; an `active` sales_frame sets the account's quote defaults."""

    contract_id: str
    party_type: Literal["account", "supplier"]
    party_id: str
    kind: Literal["sales_frame", "supply", "distribution", "nda"]
    status: ContractStatus
    previous_status: ContractStatus | None = None
    terms: ContractTerms = ContractTerms()
    effective_from: date
    expires_on: date


class PrivacyRequestOpened(EventPayload, event_type="compliance.privacy_request.opened.v1", subject="request_id"):
    """A person asked for their data (access) or its erasure: every department answers with a
    `<dept>.privacy_request.answered.v1` (hanse.privacy.PrivacyAnswer) by `due`."""

    request_id: str
    kind: PrivacyRequestKind
    email: str
    due: date


class PrivacyRequestCompleted(EventPayload, event_type="compliance.privacy_request.completed.v1", subject="request_id"):
    request_id: str
    kind: PrivacyRequestKind
    proof: str  # sha256 over the departments' answers, in department order
