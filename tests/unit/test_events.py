"""CloudEvents envelope, event-type registry and causation chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from hanse.events import CloudEvent, EventPayload, EventRegistry, make_event
from services import DEPARTMENTS, contracts, event_registry


class ThingMade(EventPayload, event_type="ledger.thing.made.v1", subject="thing_id"):
    thing_id: str


def test_event_carries_the_cloudevents_attributes_and_round_trips():
    event = make_event(ThingMade(thing_id="t-1"), source_department="ledger")
    raw = event.to_json()
    back = CloudEvent.from_json(raw)
    assert back.specversion == "1.0"
    assert back.type == "ledger.thing.made.v1"
    assert back.source == "/hanse/ledger"
    assert back.subject == "t-1"
    assert back.data == {"thing_id": "t-1"}
    assert back.time.tzinfo is not None and back.time.utcoffset() == timedelta(0)
    assert back.correlationid == "t-1", "a flow starts with its own aggregate as correlation id"
    assert back.traceparent and back.traceparent.startswith("00-")


def test_a_caused_event_inherits_correlation_and_trace_and_names_its_cause():
    cause = make_event(ThingMade(thing_id="t-1"), source_department="ledger", correlation_id="order-9")
    effect = make_event(ThingMade(thing_id="t-2"), source_department="ledger", cause=cause)
    assert effect.correlationid == "order-9"
    assert effect.causationid == cause.id
    assert effect.traceparent.split("-")[1] == cause.traceparent.split("-")[1]
    assert effect.traceparent.split("-")[2] != cause.traceparent.split("-")[2]


def test_event_time_is_normalised_to_utc():
    event = make_event(ThingMade(thing_id="x"), source_department="ledger")
    shifted = event.model_copy(update={"time": datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))})
    back = CloudEvent.from_json(shifted.to_json())
    assert back.time == datetime(2026, 1, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "broken",
    [
        {"id": "1", "source": "/x", "type": "a.b.c.v1", "time": "2026-01-01T00:00:00Z", "data": {}},
        {"specversion": "0.3", "id": "1", "source": "/x", "type": "a.b.c.v1", "time": "2026-01-01T00:00:00Z"},
        {"specversion": "1.0", "id": "1", "source": "/x", "type": "a.b.c.v1", "time": "2026-01-01T00:00:00"},
        {"specversion": "1.0", "id": "", "source": "/x", "type": "a.b.c.v1", "time": "2026-01-01T00:00:00Z"},
    ],
)
def test_envelopes_missing_required_attributes_or_timezone_are_refused(broken):
    with pytest.raises(ValidationError):
        CloudEvent.model_validate({"data": {}, **broken})


def test_registry_refuses_badly_named_or_foreign_event_types():
    reg = EventRegistry()

    class Bad(EventPayload, event_type="ledger.ThingMade", subject="x"):
        x: str

    class Foreign(EventPayload, event_type="sales.thing.made.v1", subject="x"):
        x: str

    with pytest.raises(ValueError, match="not <dept>"):
        reg.register(Bad, "ledger")
    with pytest.raises(ValueError, match="cannot publish"):
        reg.register(Foreign, "ledger")


def test_registry_validates_payloads_against_the_producers_model():
    reg = EventRegistry()
    reg.register(ThingMade, "ledger")
    good = make_event(ThingMade(thing_id="a"), source_department="ledger")
    assert reg.parse(good) == ThingMade(thing_id="a")
    with pytest.raises(ValidationError):
        reg.parse(good.model_copy(update={"data": {"thing_id": "a", "surprise": 1}}))


def test_every_department_contract_registers_versioned_types_it_owns():
    # The gateway publishes too: its answers to privacy requests.
    assert set(contracts()) == {*DEPARTMENTS, "gateway"}, "services.contracts() lists every department"
    types = event_registry().types()
    assert types, "contracts declare events"
    for name in types:
        dept = name.split(".")[0]
        assert dept in (*DEPARTMENTS, "gateway")
        assert name.rsplit(".", 1)[1].startswith("v")


class OtherThing(EventPayload, event_type="ledger.other.made.v1", subject="thing_id"):
    thing_id: str


async def on_thing(uow, payload: ThingMade) -> None: ...


async def on_either(uow, payload: ThingMade | OtherThing) -> None: ...


async def on_untyped(uow, payload) -> None: ...


def test_a_consumers_registry_is_read_from_its_handlers_payload_annotations():
    reg = EventRegistry.from_handlers({"ledger.thing.made.v1": on_thing, "ledger.other.made.v1": on_either})
    assert reg.model("ledger.thing.made.v1") is ThingMade
    assert reg.model("ledger.other.made.v1") is OtherThing
    assert reg.department("ledger.other.made.v1") == "ledger"


def test_a_handler_whose_annotation_names_another_type_or_none_is_refused():
    with pytest.raises(TypeError, match=r"registered for 'ledger\.other\.made\.v1'"):
        EventRegistry.from_handlers({"ledger.other.made.v1": on_thing})
    with pytest.raises(TypeError, match="names no contract type"):
        EventRegistry.from_handlers({"ledger.thing.made.v1": on_untyped})
