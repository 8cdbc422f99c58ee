"""CloudEvents 1.0 envelope, event payload base class and the registry of event types.

A department declares what it publishes in its `contract.py` as subclasses of `EventPayload`,
each with `event_type = "<dept>.<entity>.<verb>.v<N>"`. A consumer's registry is built from the
payload types its handlers are annotated with, so it validates against the producer's own types.
"""

from __future__ import annotations

import inspect
import re
import secrets
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from hanse.tracing import current_traceparent

EVENT_TYPE = re.compile(r"^(?P<dept>[a-z]+)\.(?P<entity>[a-z_]+)\.(?P<verb>[a-z_]+)\.v(?P<version>[1-9][0-9]*)$")
CONTENT_TYPE = "application/cloudevents+json"


class EventPayload(BaseModel):
    """Base of every event payload; `event_type` names the CloudEvent type it travels as.

    A payload declares its identity in the class line:

        class OrderCancelled(EventPayload, event_type="sales.order.cancelled.v1", subject="order_id"):
            order_id: str

    `event_type` names the CloudEvent type it travels as; `subject` the payload field holding the
    aggregate id (the message key and the CloudEvent subject). A base shared by several payloads
    may name only the subject.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    event_type: ClassVar[str] = ""
    subject_field: ClassVar[str] = ""

    def __init_subclass__(cls, *, event_type: str | None = None, subject: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if event_type is not None:
            cls.event_type = event_type
        if subject is not None:
            cls.subject_field = subject

    def subject(self) -> str:
        return str(getattr(self, self.subject_field))


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_traceparent(parent: str | None = None) -> str:
    """W3C traceparent when no span is recording (tracing off): keep the trace id of the cause, new span id."""
    trace_id = parent.split("-")[1] if parent and parent.count("-") == 3 else secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


class CloudEvent(BaseModel):
    """The structured-mode CloudEvents 1.0 envelope with Hanse's tracing extensions."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"]
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: AwareDatetime
    subject: str | None = None
    datacontenttype: str = "application/json"
    data: dict[str, Any]
    correlationid: str | None = None
    causationid: str | None = None
    traceparent: str | None = None

    @field_validator("time")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return v.astimezone(UTC)

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))

    @classmethod
    def from_json(cls, raw: bytes | str) -> CloudEvent:
        return cls.model_validate(orjson.loads(raw))


def make_event(
    payload: EventPayload,
    *,
    source_department: str,
    correlation_id: str | None = None,
    cause: CloudEvent | None = None,
) -> CloudEvent:
    """Wrap a payload; an event caused by another inherits its correlation id and trace.

    Its `traceparent` names the span it is written in (the request's or the handler's), so the
    consumers' spans become that span's children; with tracing off it keeps the cause's trace id.
    """
    if not payload.event_type:
        raise TypeError(f"{type(payload).__name__} has no event_type")
    subject = payload.subject()
    correlation = correlation_id or (cause.correlationid if cause else None) or subject
    return CloudEvent(
        specversion="1.0",
        id=str(uuid.uuid4()),
        source=f"/hanse/{source_department}",
        type=payload.event_type,
        time=utcnow(),
        subject=subject,
        data=payload.model_dump(mode="json"),
        correlationid=correlation,
        causationid=cause.id if cause else None,
        traceparent=current_traceparent() or new_traceparent(cause.traceparent if cause else None),
    )


class UnknownEventType(KeyError):
    pass


class EventRegistry:
    """Maps CloudEvent type names to their payload models."""

    def __init__(self) -> None:
        self._types: dict[str, type[EventPayload]] = {}
        self._owner: dict[str, str] = {}

    def register(self, model: type[EventPayload], department: str) -> None:
        name = model.event_type
        match = EVENT_TYPE.match(name)
        if not match:
            raise ValueError(f"{model.__name__}: event type {name!r} is not <dept>.<entity>.<verb>.v<N>")
        if match["dept"] != department:
            raise ValueError(f"{model.__name__}: {department} cannot publish {name!r}")
        if not model.subject_field or model.subject_field not in model.model_fields:
            raise ValueError(f"{model.__name__}: subject_field must name one of its fields")
        if name in self._types and self._types[name] is not model:
            raise ValueError(f"event type {name!r} registered twice")
        self._types[name] = model
        self._owner[name] = department

    def register_module(self, module: Any, department: str) -> None:
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, EventPayload)
                and value is not EventPayload
                and value.event_type
                and value.__module__ == module.__name__
            ):
                self.register(value, department)

    @classmethod
    def from_contracts(cls, contracts: Mapping[str, types.ModuleType]) -> EventRegistry:
        """Every payload type of the given contract modules, keyed by their department."""
        registry = cls()
        for department, module in contracts.items():
            registry.register_module(module, department)
        return registry

    @classmethod
    def from_handlers(cls, handlers: Mapping[str, Callable[..., Any]]) -> EventRegistry:
        """The payload types a HANDLERS table reacts to, read from each handler's annotations.

        A handler is `async def react(uow, payload: SomeContractType)`: the annotation of its
        second parameter is the contract (as in FastStream). It must name a producer's payload type
        for the event type it is registered under, else the service refuses to start.
        """
        registry = cls()
        for event_type, handler in handlers.items():
            model = _payload_model(handler, event_type)
            registry.register(model, event_type.split(".", 1)[0])
        return registry

    def model(self, event_type: str) -> type[EventPayload]:
        try:
            return self._types[event_type]
        except KeyError:
            raise UnknownEventType(event_type) from None

    def department(self, event_type: str) -> str:
        return self._owner[event_type]

    def parse(self, event: CloudEvent) -> EventPayload:
        """Validate an event's data against its registered model (raises ValidationError)."""
        return self.model(event.type).model_validate(event.data)

    def types(self) -> dict[str, type[EventPayload]]:
        return dict(self._types)

    def __contains__(self, event_type: str) -> bool:
        return event_type in self._types


def _payload_model(handler: Callable[..., Any], event_type: str) -> type[EventPayload]:
    name = getattr(handler, "__qualname__", repr(handler))
    try:
        hints = typing.get_type_hints(handler)
    except Exception as exc:
        raise TypeError(f"handler {name}: cannot resolve its annotations ({exc})") from exc
    params = list(inspect.signature(handler).parameters)
    annotation = hints.get(params[1]) if len(params) >= 2 else None
    candidates = (
        typing.get_args(annotation)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType)
        else (annotation,)
    )
    for model in candidates:
        if isinstance(model, type) and issubclass(model, EventPayload) and model.event_type == event_type:
            return model
    raise TypeError(
        f"handler {name} is registered for {event_type!r} but its payload annotation names no contract "
        f"type of that name (got {annotation!r})"
    )


__all__ = [
    "CONTENT_TYPE",
    "CloudEvent",
    "EventPayload",
    "EventRegistry",
    "UnknownEventType",
    "ValidationError",
    "make_event",
    "utcnow",
]
