"""Domain errors that the HTTP layer turns into RFC 9457 problem responses.

Domain code raises these as plain Python exceptions; it never imports FastAPI.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    title = "Bad request"
    slug = "bad-request"

    def __init_subclass__(cls, *, status: int, title: str, slug: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.status, cls.title, cls.slug = status, title, slug

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra


class Invalid(DomainError, status=422, title="Unprocessable request", slug="validation"):
    """The request is well-formed but breaks a business rule (names the field)."""


class Unauthenticated(DomainError, status=401, title="Unauthorized", slug="signature"):
    """The caller could not be authenticated: a webhook or carrier event whose signature does not verify."""


class NotFound(DomainError, status=404, title="Not found", slug="not-found"):
    """No such row (the problem names the id's field)."""


class Conflict(DomainError, status=409, title="Conflict", slug="conflict"):
    """The request clashes with the current state (a second accept, a cancel after shipping)."""


class Unavailable(DomainError, status=503, title="Service unavailable", slug="unavailable"):
    """A dependency (another department's API) could not answer."""


class PermanentEventError(Exception):
    """An event handler cannot ever succeed with this event: dead-letter it at once, no retries."""
