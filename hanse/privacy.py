"""The shape of a department's answer to a data-subject request (GDPR art. 15 access, art. 17 erasure).

Compliance opens a request; every department (and the gateway's user store) looks up what it holds
about the person, erases or pseudonymises it where no law says to keep it, and answers with one
event of this shape. Each publisher declares its own type in its contract:

    class PrivacyAnswered(PrivacyAnswer, event_type="sales.privacy_request.answered.v1"):
        pass
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from hanse.events import EventPayload

PrivacyRequestKind = Literal["access", "erasure"]


class Retained(BaseModel):
    """Something kept although erasure was asked for, and the legal duty that keeps it."""

    model_config = ConfigDict(frozen=True)

    what: str  # e.g. "3 invoices"
    why: str  # e.g. "§147 AO / §257 HGB: commercial records are kept 10 years"
    until: date | None = None


class PrivacyAnswer(EventPayload, subject="request_id"):
    """What one department held about the person and what it did about the request."""

    request_id: str
    kind: PrivacyRequestKind
    department: str
    records: int  # rows about the person found
    erased: int = 0
    pseudonymised: int = 0
    retained: list[Retained] = []
    # For an access request: the department's records of the person, as JSON (names and values).
    export: dict[str, Any] = {}


def pseudonym(email: str, secret: str) -> str:
    """A stable stand-in for an erased address: the same person maps to the same value, never back.

    Keyed (HMAC with a service secret) so that nobody can hash a list of known addresses to find
    whose data a pseudonymised row was.
    """
    digest = hmac.new(secret.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()[:20]
    return f"erased-{digest}@invalid"
