"""One order, one trace: the gateway, every department's request, relay and consumer spans share one trace id.

Every department and the gateway run in this process (uvicorn on free ports, their real
lifespans, the worker's embedded broker, SQLite files); the spans go to the OpenTelemetry SDK's
in-memory exporter, installed with `hanse.tracing.use` (the exporter, not a fake of our system).
"""

from __future__ import annotations

import importlib
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from hanse.settings import Settings
from services import DEPARTMENTS
from tests.conftest import free_port, make_settings
from tests.support.gateway import Gateway, run_gateway
from tests.support.kafka import eventually
from tests.support.service import serve_on_port
from tests.support.tracing import spans_in_memory


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    with spans_in_memory() as exporter:
        yield exporter


# Placing an order on net_30 terms runs the flow up to the booked shipment (the stock is reserved, so
# it ships at once): sales, compliance, finance and logistics act on it, marketing credits its
# campaign, procurement reads the stock levels, and the gateway records every event on its timeline.
CONSUMERS = {*DEPARTMENTS, "gateway"}


@pytest.fixture
async def platform(broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gateway]:
    """Every department on a port of its own and the gateway in front, all in this process."""
    settings: Settings = make_settings(broker.bootstrap, None, data_dir=tmp_path)
    ports = {name: free_port() for name in DEPARTMENTS}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    for name, url in urls.items():  # sales asks logistics for freight and finance for PDFs
        monkeypatch.setenv(f"HANSE_{name.upper()}_URL", url)
    async with AsyncExitStack() as stack:
        for name in DEPARTMENTS:
            app = importlib.import_module(f"services.{name}.app").build(settings)
            await stack.enter_async_context(serve_on_port(app, ports[name]))
        yield await stack.enter_async_context(run_gateway(settings, upstreams=urls))


def service(span: ReadableSpan) -> str:
    return str((span.attributes or {}).get("hanse.service"))


async def admin_post(gw: Gateway, path: str, body: dict, **headers: str) -> dict:
    response = await gw.client.post(f"/api/v1{path}", json=body, headers={**gw.auth("admin"), **headers})
    assert response.status_code in (200, 201), f"{path}: {response.status_code} {response.text}"
    return response.json()


async def new_product(gw: Gateway) -> str:
    """A product through the gateway; its sku."""
    sku = f"PUMP-{uuid.uuid4().hex[:6].upper()}"
    body = {
        "sku": sku,
        "name": "Centrifugal pump",
        "hs_code": "8413.70",
        "origin_country": "DE",
        "unit_price": {"amount": "100.00", "currency": "EUR"},
        "unit_weight_kg": "12.5",
    }
    await admin_post(gw, "/sales/products", body)
    return sku


def hex_id(value: int, width: int) -> str:
    return format(value, f"0{width}x")


async def test_one_orders_spans_form_one_trace_across_every_department(exporter, platform: Gateway):
    gw = platform
    admin = gw.auth("admin")

    async def post(path: str, body: dict, **headers: str) -> dict:
        return await admin_post(gw, path, body, **headers)

    warehouse = f"WH-{uuid.uuid4().hex[:6].upper()}"
    await post("/logistics/warehouses", {"code": warehouse, "name": "Hamburg", "country": "DE"})
    sku = await new_product(gw)
    await post("/logistics/stock/receipts", {"sku": sku, "warehouse": warehouse, "quantity": 10})
    account = await post(
        "/sales/accounts",
        {
            "company": "Trace SA",
            "country": "FR",
            "email": "buyer@example.com",
            "currency": "EUR",
            "payment_terms": "net_30",
        },
    )
    quote = await post(
        "/sales/quotes",
        {
            "account_id": account["id"],
            "currency": "EUR",
            "incoterm": "FCA",
            "named_place": "Hamburg",
            "destination_country": "FR",
            "lines": [{"sku": sku, "quantity": 2}],
        },
    )

    # The client starts the trace: the gateway continues its traceparent, so we know the trace id.
    trace_id, client_span_id = secrets.token_hex(16), secrets.token_hex(8)
    order = await post(f"/sales/quotes/{quote['id']}/accept", {}, traceparent=f"00-{trace_id}-{client_span_id}-01")

    async def shipped_and_settled() -> list[ReadableSpan] | None:
        status = (await gw.client.get(f"/api/v1/sales/orders/{order['id']}", headers=admin)).json()["status"]
        spans = [s for s in exporter.get_finished_spans() if hex_id(s.context.trace_id, 32) == trace_id]
        ids = {s.context.span_id for s in spans}
        orphans = [
            s.name for s in spans if s.parent is not None and s.parent.span_id not in ids and s.kind != SpanKind.SERVER
        ]
        consumers = {service(s) for s in spans if s.kind == SpanKind.CONSUMER}
        # Done when the order is booked for shipping, every department (and the gateway's timeline)
        # has handled one of its events and no span waits for its parent.
        if status == "ready_to_ship" and CONSUMERS <= consumers and not orphans:
            return spans
        return None

    spans = await eventually(shipped_and_settled, timeout=45)
    by_id = {s.context.span_id: s for s in spans}

    # Every department is in the trace: the gateway and sales by the request, all of them by their consumers.
    assert {service(s) for s in spans if s.kind == SpanKind.SERVER} == {"gateway", "sales"}
    assert {service(s) for s in spans if s.kind == SpanKind.CONSUMER} == CONSUMERS
    assert {service(s) for s in spans if s.kind == SpanKind.PRODUCER} >= {"sales", "compliance", "finance", "logistics"}

    # One root: the gateway's server span, child of the client's span; every other parent is in the trace.
    roots = [s for s in spans if s.parent is None or s.parent.span_id not in by_id]
    assert [(service(s), s.kind) for s in roots] == [("gateway", SpanKind.SERVER)]
    assert roots[0].parent is not None and hex_id(roots[0].parent.span_id, 16) == client_span_id

    # The gateway's client span carries the trace to sales' server span.
    sales_server = [s for s in spans if service(s) == "sales" and s.kind == SpanKind.SERVER]
    assert len(sales_server) == 1
    client = by_id[sales_server[0].parent.span_id]  # type: ignore[union-attr]
    assert (service(client), client.kind) == ("gateway", SpanKind.CLIENT)

    # Each consumer span's parent is the span that produced its event (in the producing department),
    # the relay's publish span of the same event is that span's child too, and the consumer links to it.
    publishes = {(s.attributes or {}).get("messaging.message.id"): s for s in spans if s.kind == SpanKind.PRODUCER}
    consumers = [s for s in spans if s.kind == SpanKind.CONSUMER]
    assert len(consumers) >= 4
    for span in consumers:
        attributes = span.attributes or {}
        event_type = str(attributes["cloudevents.event_type"])
        producer = by_id[span.parent.span_id]  # type: ignore[union-attr]
        assert producer.kind in (SpanKind.SERVER, SpanKind.CONSUMER), span.name
        assert service(producer) == event_type.split(".", 1)[0], f"{span.name} under {producer.name}"
        publish = publishes[attributes["messaging.message.id"]]
        assert publish.parent is not None and publish.parent.span_id == producer.context.span_id
        assert [link.context.span_id for link in span.links] == [publish.context.span_id]

    # The proforma's mail: sales' scheduler job fetches its PDF from finance outside any request or
    # event, so its client span starts a trace of its own and finance's server span is its child.
    async def pdf_fetch() -> tuple[ReadableSpan, ReadableSpan] | None:
        finished = {s.context.span_id: s for s in exporter.get_finished_spans()}
        for span in finished.values():
            if service(span) == "finance" and span.kind == SpanKind.SERVER and span.name.endswith("/pdf"):
                caller = finished.get(span.parent.span_id) if span.parent else None
                if caller is not None:
                    return span, caller
        return None

    pdf, caller = await eventually(pdf_fetch, timeout=20)
    assert (service(caller), caller.kind, caller.name, caller.parent) == ("sales", SpanKind.CLIENT, "GET finance", None)
    assert pdf.context.trace_id == caller.context.trace_id


async def test_a_call_from_one_department_to_another_stays_in_the_callers_trace(exporter, platform: Gateway):
    """A DAP quote: sales asks logistics for the freight; logistics' server span is a child of sales'."""
    gw = platform
    sku = await new_product(gw)
    account = await admin_post(
        gw,
        "/sales/accounts",
        {
            "company": "Fret SA",
            "country": "FR",
            "email": "buyer@example.com",
            "currency": "EUR",
            "payment_terms": "net_30",
        },
    )
    trace_id, client_span_id = secrets.token_hex(16), secrets.token_hex(8)
    quote = await admin_post(
        gw,
        "/sales/quotes",
        {
            "account_id": account["id"],
            "currency": "EUR",
            "incoterm": "DAP",
            "named_place": "Lyon",
            "destination_country": "FR",
            "lines": [{"sku": sku, "quantity": 2}],
        },
        traceparent=f"00-{trace_id}-{client_span_id}-01",
    )
    assert quote["freight"] is not None, "DAP: the seller pays the freight, so logistics priced it"

    async def rates_and_callers() -> tuple[ReadableSpan, ReadableSpan, ReadableSpan] | None:
        spans = {s.context.span_id: s for s in exporter.get_finished_spans()}
        for span in spans.values():
            if service(span) == "logistics" and span.kind == SpanKind.SERVER and "/rates" in span.name:
                # The callers' spans end after their responses: wait for both.
                caller = spans.get(span.parent.span_id) if span.parent else None
                server = spans.get(caller.parent.span_id) if caller and caller.parent else None
                return (span, caller, server) if caller and server else None
        return None

    rates, caller, server = await eventually(rates_and_callers, timeout=10)
    assert hex_id(rates.context.trace_id, 32) == trace_id
    # Sales' client span of the call (hanse.http.department_client), under its server span.
    assert (service(caller), caller.kind, caller.name) == ("sales", SpanKind.CLIENT, "POST logistics")
    assert (service(server), server.kind) == ("sales", SpanKind.SERVER)
    # The call carries the request's id too, so both services' log lines name it.
    request_id = (server.attributes or {})["hanse.request_id"]
    assert (rates.attributes or {})["hanse.request_id"] == request_id
