"""The gateway serves one valid OpenAPI document for all departments and the AsyncAPI event catalogue."""

from __future__ import annotations

import importlib
from pathlib import Path

from openapi_spec_validator import validate

from gateway.contracts import asyncapi_document
from hanse.broker import EmbeddedBroker
from hanse.topology import DEPARTMENTS
from tests.conftest import make_settings
from tests.support.gateway import run_gateway
from tests.unit.test_gateway_contracts import refs, resolve

METHODS = {"get", "post", "put", "patch", "delete"}


async def test_openapi_holds_every_department_operation_and_the_gateways_own_and_is_valid(
    broker: EmbeddedBroker, tmp_path: Path
):
    settings = make_settings(broker.bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}", topic_prefix="acme")
    async with run_gateway(settings) as gw:
        response = await gw.client.get("/openapi.json")
        assert response.status_code == 200
        spec = response.json()
        catalogue = await gw.client.get("/api/v1/asyncapi.json")
    validate(spec)  # raises on an invalid OpenAPI 3.1 document
    for ref in refs(spec):
        assert resolve(spec, ref) is not None, ref

    for department in DEPARTMENTS:
        own = importlib.import_module(f"services.{department}.app").app.openapi()
        for path, item in own["paths"].items():
            if not path.startswith(f"/api/v1/{department}/"):
                continue
            for method in set(item) & METHODS:
                merged = spec["paths"][path][method]
                assert merged["operationId"] == f"{department}_{item[method]['operationId']}"
    for path in ("/api/v1/auth/token", "/api/v1/auth/users", "/api/v1/auth/clients", "/api/v1/asyncapi.json"):
        assert path in spec["paths"], path
    assert "/livez" in spec["paths"] and not any(p.startswith("/api/v1/sales/livez") for p in spec["paths"])
    ids = [op["operationId"] for item in spec["paths"].values() for m, op in item.items() if m in METHODS]
    assert len(ids) == len(set(ids))
    assert "SalesProductPublic" in spec["components"]["schemas"]
    assert spec["components"]["securitySchemes"]["OAuth2"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"

    assert catalogue.status_code == 200
    assert catalogue.json() == asyncapi_document(topic_prefix="acme", partitions=settings.topic_partitions)
    assert catalogue.json()["channels"]["sales"]["address"] == "acme.sales"
