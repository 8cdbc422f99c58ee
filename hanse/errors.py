"""Domain errors that the HTTP layer turns into RFC 9457 problem responses.

Domain code raises these as plain Python exceptions; it never imports FastAPI.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    title = "Bad request"
    slug = "bad-request"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra


class Invalid(DomainError):
    """The request is well-formed but breaks a business rule (names the field)."""

    status = 422
    title = "Unprocessable request"
    slug = "validation"


class NotFound(DomainError):
    status = 404
    title = "Not found"
    slug = "not-found"


class Conflict(DomainError):
    """The request clashes with the current state (a second accept, a cancel after shipping)."""

    status = 409
    title = "Conflict"
    slug = "conflict"


class Unavailable(DomainError):
    """A dependency (another department's API) could not answer."""

    status = 503
    title = "Service unavailable"
    slug = "unavailable"


class PermanentEventError(Exception):
    """An event handler cannot ever succeed with this event: dead-letter it at once, no retries."""
