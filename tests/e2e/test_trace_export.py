"""Real processes with OTEL_TRACES_EXPORTER=otlp send their spans to a collector; their log lines are JSON.

The gateway and sales run as `hanse serve` processes (SQLite files, the worker's embedded broker)
and export over OTLP/HTTP to a receiver in this test, which decodes the protobuf requests as a
collector does. One proxied request must arrive as one trace crossing both processes, and the
sales process's log line of that request must carry its request id and trace id.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from hanse.auth import issue_token
from hanse.settings import Settings
from ops.broker import die_with_parent
from tests.conftest import free_port
from tests.support.kafka import eventually

SECRET = "trace-export-secret-" + "x" * 40
ROOT = Path(__file__).resolve().parents[2]


class Collector:
    """The OTLP/HTTP traces endpoint of a collector: what it received, by service.name."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, Span]] = []

    async def export(self, request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest.FromString(await request.read())
        for resource_spans in message.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                self.spans += [(attributes.get("service.name", ""), span) for span in scope_spans.spans]
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )


@pytest.fixture
async def collector() -> AsyncIterator[tuple[Collector, str]]:
    received = Collector()
    app = web.Application()
    app.router.add_post("/v1/traces", received.export)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield received, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
def processes(broker, collector, tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """Sales and the gateway as processes exporting to the collector; yields their URLs and sales' log."""
    _, endpoint = collector
    sales_port, gateway_port = free_port(), free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "HANSE_ENV": "test",
        "HANSE_DATA_DIR": str(tmp_path),
        "HANSE_JWT_SECRET": SECRET,
        "HANSE_ADMIN_PASSWORD": "trace-admin-password",
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "HANSE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}",
        "HANSE_SALES_URL": f"http://127.0.0.1:{sales_port}",
        "HANSE_SMTP_URL": "smtp://127.0.0.1:9",
        "HANSE_LOG_LEVEL": "DEBUG",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds: export soon after the request
    }
    logs = {name: tmp_path / f"{name}.log" for name in ("sales", "gateway")}
    started = []
    try:
        for name, port in (("sales", sales_port), ("gateway", gateway_port)):
            with logs[name].open("wb") as out:
                started.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "ops.cli", "serve", name, "--port", str(port)],
                        env=env,
                        cwd=tmp_path,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        preexec_fn=die_with_parent(),
                    )
                )
        yield f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{sales_port}", logs["sales"]
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


async def test_processes_export_one_trace_over_otlp_and_log_json_lines_with_its_ids(collector, processes):
    received, _ = collector
    gateway, sales, sales_log = processes
    token, _ = issue_token("tracer", ["admin"], Settings(env="dev", jwt_secret=SECRET))
    headers = {"Authorization": f"Bearer {token}", "X-Request-ID": "export-req-1"}
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as client:

        async def ready() -> bool:
            # The gateway's /readyz wants every department; only sales runs here.
            try:
                return (await client.get(f"{sales}/readyz")).status_code == 200 and (
                    (await client.get("/livez")).status_code == 200
                )
            except httpx.HTTPError:
                return False

        await eventually(ready, timeout=90, interval=0.5)
        response = await client.get("/api/v1/sales/products/NO-SUCH-SKU", headers=headers)
        assert response.status_code == 404 and response.headers["x-request-id"] == "export-req-1"

    wanted = {"hanse-gateway/SERVER", "hanse-gateway/CLIENT", "hanse-sales/SERVER"}

    async def exported() -> dict[str, Span] | None:
        # The request's spans: those naming its request id, and the gateway's one upstream call.
        found = {
            f"{service}/{Span.SpanKind.Name(span.kind).removeprefix('SPAN_KIND_')}": span
            for service, span in received.spans
            if any(a.key == "hanse.request_id" and a.value.string_value == "export-req-1" for a in span.attributes)
            or (service == "hanse-gateway" and span.kind == Span.SpanKind.SPAN_KIND_CLIENT)
        }
        return found if wanted <= set(found) else None

    spans = await eventually(exported, timeout=30, interval=0.2)
    gateway_server, client_span, sales_server = (
        spans["hanse-gateway/SERVER"],
        spans["hanse-gateway/CLIENT"],
        spans["hanse-sales/SERVER"],
    )
    # One trace across the two processes: gateway server -> gateway client -> sales server.
    assert gateway_server.trace_id == client_span.trace_id == sales_server.trace_id
    assert client_span.parent_span_id == gateway_server.span_id
    assert sales_server.parent_span_id == client_span.span_id
    assert sales_server.name == "GET /api/v1/sales/products/{sku}"

    # Sales' access line (HANSE_LOG_LEVEL=DEBUG) is JSON naming the request and its span.
    lines = [orjson.loads(line) for line in sales_log.read_bytes().splitlines() if line.startswith(b"{")]
    (access,) = [line for line in lines if line.get("request_id") == "export-req-1"]
    assert access["service"] == "sales" and access["logger"] == "hanse.http"
    assert access["trace_id"] == sales_server.trace_id.hex() and access["span_id"] == sales_server.span_id.hex()
    assert access["message"].startswith("GET /api/v1/sales/products/NO-SUCH-SKU 404 in ")
