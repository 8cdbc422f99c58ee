"""Gateway tables: partner webhook endpoints, their deliveries and the log of every attempt."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints
from pydantic import Field as PydanticField
from sqlalchemy import JSON, Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field

from gateway.models.base import Model
from hanse.db import BigId, UTCDateTime

EndpointStatus = Literal["active", "disabled"]
# pending: not tried yet; retrying: failed, tried again at next_attempt_at; delivered/failed: final.
DeliveryState = Literal["pending", "retrying", "delivered", "failed"]
AttemptState = Literal["delivered", "retrying", "failed"]


class WebhookEndpoint(Model, table=True):
    __tablename__ = "webhook_endpoint"

    id: str = Field(sa_column=Column(String(40), primary_key=True))
    # The principal that registered it (a partner app's client id); partners see only their own.
    owner: str = Field(sa_type=String(255), index=True)
    url: str = Field(sa_column=Column(Text, nullable=False))
    events: list[str] = Field(sa_column=Column(JSON, nullable=False))
    # Standard Webhooks secret (`whsec_<base64>`): the gateway needs it to sign every delivery.
    secret: str = Field(sa_type=String(128))
    status: str = Field(sa_type=String(16))
    # Events up to this timeline seq existed before the endpoint did and are not sent to it.
    start_seq: int = Field(sa_type=BigId)
    consecutive_failures: int = 0
    failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    disabled_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(sa_type=UTCDateTime)


class WebhookDelivery(Model, table=True):
    """One event owed to one endpoint: the retry state machine."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_delivery_endpoint_event"),
        Index("ix_webhook_delivery_due", "state", "next_attempt_at"),
    )

    id: str = Field(sa_column=Column(String(40), primary_key=True))  # the webhook-id header, same on every retry
    endpoint_id: str = Field(sa_type=String(40), index=True)
    event_seq: int = Field(sa_type=BigId)
    event_id: str = Field(sa_type=String(64))
    event_type: str = Field(sa_type=String(255))
    state: str = Field(sa_type=String(16))
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookAttempt(Model, table=True):
    """The delivery log: one row per HTTP attempt."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (Index("ix_webhook_attempt_endpoint_id", "endpoint_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    endpoint_id: str = Field(sa_type=String(40))
    delivery_id: str = Field(sa_type=String(40))
    event_id: str = Field(sa_type=String(64))
    event_type: str = Field(sa_type=String(255))
    attempt: int
    status_code: int | None = None
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime = Field(sa_type=UTCDateTime)
    duration_ms: int
    state: str = Field(sa_type=String(16))
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DispatchCursor(Model, table=True):
    """How far the webhook worker has fanned the timeline out to endpoints (survives restarts)."""

    __tablename__ = "webhook_dispatch_cursor"

    name: str = Field(sa_column=Column(String(32), primary_key=True))
    seq: int = Field(sa_type=BigId)


# -- API schemas ------------------------------------------------------------------------------------

EventFilter = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^(\*|[a-z][a-z0-9_]*(\.[a-z0-9_]+)*\.?)$")
]


class WebhookCreate(BaseModel):
    url: str = PydanticField(min_length=1, max_length=2000, description="http(s) URL the events are POSTed to")
    events: list[EventFilter] = PydanticField(
        min_length=1,
        max_length=50,
        description="event types: exact (`sales.order.placed.v1`), a prefix ending in '.' (`logistics.`), or '*'",
    )


class WebhookPublic(BaseModel):
    id: str
    url: str
    events: list[str]
    status: EndpointStatus
    owner: str
    consecutive_failures: int
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    created_at: datetime


class WebhookCreated(WebhookPublic):
    # Shown once, on creation: the partner verifies every delivery's signature with it.
    secret: str


class AttemptPublic(BaseModel):
    id: int
    delivery_id: str
    event_id: str
    event_type: str
    attempt: int
    status_code: int | None
    error: str | None
    at: datetime
    duration_ms: int
    state: AttemptState
    next_attempt_at: datetime | None


class DeliveryPublic(BaseModel):
    """One event owed to an endpoint, with the outcome of its latest attempt (none yet: nulls)."""

    id: str = PydanticField(description="the webhook-id header; the delivery_id of its attempts")
    event_id: str
    event_seq: int
    event_type: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    last_status_code: int | None = None
    last_error: str | None = None
    last_attempt_at: datetime | None = None
