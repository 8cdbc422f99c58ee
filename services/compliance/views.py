"""Compliance rows as answers: public pages for the API and event payloads for the outbox."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from services.compliance.contract import (
    DocumentsRequired,
    Match,
    OrderCleared,
    OrderHeld,
    OrderRejected,
    RequiredDocument,
    ScreeningCompleted,
)
from services.compliance.models import Check
from services.sales.contract import OrderTerms

PublicT = TypeVar("PublicT", bound=BaseModel)


def _matches(check: Check) -> list[Match]:
    return [Match.model_validate(m) for m in check.matches]


def screening_completed(check: Check, *, officer: str | None = None) -> ScreeningCompleted:
    """The screening as it stands; an officer's decision adds its note to the reasons."""
    reasons = [*check.reasons, f"officer {check.decision}: {check.note}"] if officer else check.reasons
    return ScreeningCompleted(
        check_id=check.id,
        subject_type=check.subject_type,
        subject_id=check.subject_id,
        result=check.result,
        reasons=reasons,
        matches=_matches(check),
        decided_by=officer,
    )


def order_verdict(check: Check, *, officer: str | None = None) -> OrderCleared | OrderHeld | OrderRejected:
    """What an order check tells sales: blocked rejects, review holds, clear clears (with the terms)."""
    order_id = check.subject_id  # an order check's subject is the order
    if check.result == "blocked":
        reasons = [*check.reasons, f"rejected by a compliance officer: {check.note}"] if officer else check.reasons
        return OrderRejected(order_id=order_id, check_id=check.id, reasons=reasons, decided_by=officer)
    if check.result == "review":
        return OrderHeld(order_id=order_id, check_id=check.id, reasons=check.reasons, matches=_matches(check))
    order = OrderTerms.model_validate(check.order_terms)
    return OrderCleared(order_id=order_id, check_id=check.id, decided_by=officer, order=order)


def documents_required(check: Check) -> DocumentsRequired:
    documents = [RequiredDocument.model_validate(d) for d in check.required_documents]
    return DocumentsRequired(order_id=check.subject_id, documents=documents)
