"""A real request's log lines are JSON carrying its service, request, correlation and trace ids."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from ops.broker import die_with_parent
from tests.conftest import free_port
from tests.integration.test_graceful_shutdown import _wait_ready
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


def test_a_served_process_writes_every_line_as_json_uvicorns_own_included(broker, tmp_path):
    """`hanse serve` as deployed: the server's own warnings (here a malformed request) are JSON lines too."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HANSE_", "KAFKA_", "DATABASE_URL"))},
        "HANSE_ENV": "dev",
        "HANSE_LOG_FORMAT": "json",
        "HANSE_DATA_DIR": str(tmp_path),
        "HANSE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}",
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
    }
    log = tmp_path / "procurement.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "serve", "procurement", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(),
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}", process)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            raw.recv(1024)  # uvicorn answers 400 and logs a warning
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    parsed = [orjson.loads(line) for line in lines]  # fails on the first line that is not JSON
    [warning] = [p for p in parsed if p["message"] == "Invalid HTTP request received."]
    assert warning["logger"] == "uvicorn.error" and warning["level"] == "warning"
    assert warning["service"] == "procurement"
