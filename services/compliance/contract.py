"""Events the compliance department publishes (topic hanse.compliance)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from hanse.events import EventPayload
from services.sales.contract import OrderTerms

SubjectType = Literal["lead", "account", "order"]
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
