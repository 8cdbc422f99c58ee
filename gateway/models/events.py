"""Gateway tables: the event timeline, every department's events in arrival order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, Index, String, Text
from sqlmodel import Field

from gateway.models.base import Model
from hanse.db import BigId, UTCDateTime


class TimelineEvent(Model, table=True):
    """One CloudEvent as the gateway received it; `seq` orders the timeline and is the SSE event id."""

    __tablename__ = "timeline_event"
    __table_args__ = (
        Index("ix_timeline_correlation_seq", "correlation_id", "seq"),
        Index("ix_timeline_type_seq", "type", "seq"),
    )

    seq: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    event_id: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    type: str = Field(sa_type=String(255))
    source: str = Field(sa_type=String(255))
    subject: str | None = Field(default=None, sa_type=String(255))
    time: datetime = Field(sa_type=UTCDateTime)
    correlation_id: str | None = Field(default=None, sa_type=String(255))
    causation_id: str | None = Field(default=None, sa_type=String(64))
    topic: str = Field(sa_type=String(255))
    # The whole structured-mode CloudEvent as received (data included), served as is by SSE and webhooks.
    cloudevent: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = Field(sa_type=UTCDateTime)


class TimelineEntry(BaseModel):
    """A stored event: its place in the timeline and the CloudEvent itself."""

    seq: int
    topic: str
    received_at: datetime
    event: dict[str, Any]
