"""Tracing is off unless OTEL_* asks; log lines carry the ids of the work they belong to."""

from __future__ import annotations

import logging

import orjson
import pytest
from opentelemetry import trace

from hanse import logs, tracing
from tests.support.tracing import captured_logs


@pytest.fixture
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "_configured", False)
    monkeypatch.setattr(tracing, "_provider", None)


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
        {"OTEL_TRACES_EXPORTER": "none"},
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"},
    ],
)
def test_tracing_is_off_unless_an_exporter_is_named(unconfigured, environ):
    assert tracing.configure("sales", environ) is False
    assert tracing.tracer("sales") is None
    # Nothing was installed globally either: the API stays a no-op.
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def test_an_unknown_exporter_or_protocol_stops_the_start(unconfigured):
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER"):
        tracing.configure("sales", {"OTEL_TRACES_EXPORTER": "jaeger"})
    tracing._configured = False
    with pytest.raises(ValueError, match="http/protobuf"):
        tracing.configure("sales", {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})


def test_traceparent_round_trips_and_bad_ones_start_a_new_trace():
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert tracing.trace_id_of(parent) == "0af7651916cd43dd8448eb211c80319c"
    assert tracing.trace_id_of("00-nothex-b7ad6b7169203331-01") is None
    assert tracing.trace_id_of(None) is None
    assert tracing.current_traceparent() is None  # no span is recording here


def test_a_consumers_log_line_carries_the_events_correlation_and_trace_ids():
    with captured_logs() as output:
        tokens = (logs.correlation_id.set("order-7"), logs.trace_id.set("0af7651916cd43dd8448eb211c80319c"))
        try:
            logging.getLogger("hanse.consumer").info("handled %s", "sales.order.placed.v1")
        finally:
            logs.trace_id.reset(tokens[1])
            logs.correlation_id.reset(tokens[0])
        logging.getLogger("hanse.consumer").warning("outside any event")
    inside, outside = (orjson.loads(line) for line in output.getvalue().splitlines())
    assert inside["message"] == "handled sales.order.placed.v1"
    assert (inside["correlation_id"], inside["trace_id"]) == ("order-7", "0af7651916cd43dd8448eb211c80319c")
    assert inside["level"] == "info" and inside["logger"] == "hanse.consumer"
    assert "correlation_id" not in outside and "trace_id" not in outside and outside["level"] == "warning"


def test_the_log_format_is_console_in_dev_and_json_elsewhere():
    assert logs.default_format({}) == "console"
    assert logs.default_format({"HANSE_ENV": "prod"}) == "json"
    assert logs.default_format({"HANSE_ENV": "dev", "HANSE_LOG_FORMAT": "json"}) == "json"
    with pytest.raises(ValueError, match="HANSE_LOG_FORMAT"):
        logs.default_format({"HANSE_LOG_FORMAT": "xml"})
