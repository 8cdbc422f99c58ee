"""A real request's log lines are JSON carrying its service, request, correlation and trace ids."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.support.service import run_service
from tests.support.tracing import captured_logs, spans_in_memory


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    with spans_in_memory() as exporter:
        yield exporter


async def test_a_requests_log_lines_are_json_with_its_request_correlation_and_trace_ids(settings, exporter):
    with captured_logs("DEBUG") as output:
        async with run_service("sales", settings) as svc:
            response = await svc.client.get(
                "/livez", headers={"X-Request-ID": "req-trace-1", "X-Correlation-ID": "order-42"}
            )
            assert response.status_code == 200
    lines = [orjson.loads(line) for line in output.getvalue().splitlines() if line.strip()]
    assert lines, "nothing was logged"
    mine = [line for line in lines if line.get("request_id") == "req-trace-1"]
    assert len(mine) == 1, lines
    line = mine[0]
    assert line["service"] == "sales"
    assert line["correlation_id"] == "order-42"
    assert line["logger"] == "hanse.http" and line["level"] == "debug"
    assert line["message"].startswith("GET /livez 200 in ")
    assert datetime.fromisoformat(line["timestamp"]).utcoffset() == UTC.utcoffset(None)
    (server,) = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert line["trace_id"] == format(server.context.trace_id, "032x")
    assert line["span_id"] == format(server.context.span_id, "016x")
    # The service's start-up lines are JSON too, and name the service.
    assert any(line.get("logger") == "hanse.app" and line.get("service") == "sales" for line in lines)
