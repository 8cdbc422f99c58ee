"""SQL and header injection change nothing and never cause a 500, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from hanse.db import drop_postgres_database, ensure_postgres_database
from tests.conftest import PG_BASE, make_settings, postgres_available
from tests.support.service import RunningService, run_service

SQL = ["' OR 1=1 --", "' OR '1'='1", "1; DROP TABLE account; --", '" OR ""="', "x' UNION SELECT * FROM outbox --"]
CRLF = ["abc\r\nSet-Cookie: pwned=1", "abc\nX-Evil: 1", "abc\r\n\r\n<html>", "abc\n"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def depts(request: pytest.FixtureRequest, broker, tmp_path: Path) -> AsyncIterator[dict[str, RunningService]]:
    """Sales and logistics in-process, each on its own database of the kind under test."""
    if request.param == "postgres" and not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    urls = {}
    for name in ("sales", "logistics"):
        if request.param == "sqlite":
            urls[name] = f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"
        else:
            urls[name] = f"{PG_BASE}/hanse_sec_{name}_{uuid.uuid4().hex[:10]}"
            await ensure_postgres_database(urls[name])
    try:
        async with AsyncExitStack() as stack:
            running = {}
            for name, url in urls.items():
                settings = make_settings(broker.bootstrap, url, data_dir=tmp_path)
                running[name] = await stack.enter_async_context(run_service(name, settings))
            yield running
    finally:
        if request.param == "postgres":
            for url in urls.values():
                await drop_postgres_database(url)


async def seeded(sales: RunningService, logistics: RunningService) -> None:
    auth = sales.auth("admin")
    for company in ("Honest Trading SA", "Robert'); DROP TABLE account;--"):
        body = {
            "company": company,
            "country": "FR",
            "email": "b@example.com",
            "currency": "EUR",
            "payment_terms": "net_30",
        }
        assert (await sales.client.post("/api/v1/sales/accounts", json=body, headers=auth)).status_code == 201
    body = {"code": "HAM", "name": "x'; DELETE FROM warehouse; --", "country": "DE"}
    assert (await logistics.client.post("/api/v1/logistics/warehouses", json=body, headers=auth)).status_code == 201


async def snapshot(sales: RunningService, logistics: RunningService) -> tuple[list, list, list]:
    auth = sales.auth("admin")
    accounts = (await sales.client.get("/api/v1/sales/accounts", headers=auth)).json()["items"]
    warehouses = (await logistics.client.get("/api/v1/logistics/warehouses", headers=auth)).json()["items"]
    shipments = (await logistics.client.get("/api/v1/logistics/shipments", headers=auth)).json()["items"]
    return accounts, warehouses, shipments


async def test_sql_in_ids_filters_and_bodies_is_data_not_code(depts: dict[str, RunningService]):
    sales, logistics = depts["sales"], depts["logistics"]
    auth = sales.auth("admin")
    await seeded(sales, logistics)
    before = await snapshot(sales, logistics)
    accounts, warehouses, _ = before
    assert len(accounts) == 2 and "DROP TABLE" in accounts[1]["company"] + accounts[0]["company"]
    assert warehouses[0]["name"] == "x'; DELETE FROM warehouse; --"

    for attack in SQL:
        calls = [
            (sales, "GET", f"/api/v1/sales/orders/{attack}", None, None),
            (sales, "GET", f"/api/v1/sales/accounts/{attack}", None, None),
            (sales, "GET", "/api/v1/sales/accounts", {"lead_id": attack}, None),
            (sales, "GET", "/api/v1/sales/orders", {"account_id": attack}, None),
            (sales, "POST", f"/api/v1/sales/orders/{attack}/cancel", None, {"reason": attack}),
            (sales, "POST", f"/api/v1/sales/quotes/{attack}/accept", None, None),
            (logistics, "GET", f"/api/v1/logistics/warehouses/{attack}", None, None),
            (logistics, "GET", "/api/v1/logistics/shipments", {"order_id": attack}, None),
            (logistics, "GET", f"/api/v1/logistics/orders/{attack}", None, None),
            (
                logistics,
                "POST",
                "/api/v1/logistics/stock/receipts",
                None,
                {"sku": "A1", "warehouse": attack, "quantity": 1},
            ),
        ]
        for service, method, path, params, body in calls:
            response = await service.client.request(method, path, params=params, json=body, headers=auth)
            assert response.status_code < 500, f"{method} {path} {params}: {response.status_code} {response.text}"
            if response.status_code >= 400:
                assert response.headers["content-type"] == "application/problem+json", (method, path)
            else:
                assert response.json()["items"] == [], f"{method} {path} {params} matched rows: {response.text}"
    assert await snapshot(sales, logistics) == before


async def test_crlf_in_request_id_and_idempotency_key_is_never_echoed_and_changes_nothing(
    depts: dict[str, RunningService],
):
    sales, logistics = depts["sales"], depts["logistics"]
    await seeded(sales, logistics)
    before = await snapshot(sales, logistics)
    auth = sales.auth("admin")
    for attack in CRLF:
        raw = attack.encode("latin-1")
        # Straight into the ASGI app: no HTTP client or server parser stands between the header and the code.
        response = await sales.client.get("/api/v1/sales/accounts", headers=[*auth.items(), (b"X-Request-ID", raw)])
        assert response.status_code == 200
        echoed = response.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", echoed), f"not replaced by a fresh id: {echoed!r}"
        assert "set-cookie" not in response.headers and "x-evil" not in response.headers

        body = {"code": f"W{uuid.uuid4().hex[:6]}", "name": "Kiel", "country": "DE"}
        write = await logistics.client.post(
            "/api/v1/logistics/warehouses", json=body, headers=[*auth.items(), (b"Idempotency-Key", raw)]
        )
        assert write.status_code == 400, write.text
        assert write.headers["content-type"] == "application/problem+json"
        assert write.json()["field"] == "Idempotency-Key"
        assert "x-evil" not in write.headers and "set-cookie" not in write.headers
    assert await snapshot(sales, logistics) == before
