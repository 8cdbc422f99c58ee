"""The gateway serves one valid OpenAPI document for all departments and the AsyncAPI event catalogue."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from openapi_spec_validator import validate

from gateway.contracts import asyncapi_document
from ops.broker import EmbeddedBroker
from services import DEPARTMENTS
from tests.conftest import make_settings
from tests.support.gateway import run_gateway
from tests.unit.test_gateway_contracts import refs, resolve

METHODS = {"get", "post", "put", "patch", "delete"}
OPERATION_ID = re.compile(r"^[a-z_]+-[a-z0-9_]+$")  # `<tag>-<name>`, e.g. `sales-accept_quote`


def operation_ids(spec: dict[str, Any]) -> list[str]:
    return [op["operationId"] for item in spec["paths"].values() for m, op in item.items() if m in METHODS]


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
                # `<tag>-<name>` and the tag is the department: the merge keeps the department's id.
                assert merged["operationId"] == item[method]["operationId"]
                assert merged["operationId"].startswith(f"{department}-")
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


async def test_every_operation_id_is_tag_dash_name_and_unique_in_each_service_and_at_the_gateway(
    broker: EmbeddedBroker, tmp_path: Path
):
    settings = make_settings(broker.bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    async with run_gateway(settings) as gw:
        merged = (await gw.client.get("/openapi.json")).json()
    documents = {"gateway": merged}
    for department in DEPARTMENTS:
        documents[department] = importlib.import_module(f"services.{department}.app").app.openapi()
    for name, spec in documents.items():
        ids = operation_ids(spec)
        assert len(ids) > 5, name
        assert [i for i in ids if not OPERATION_ID.fullmatch(i)] == [], name
        assert len(ids) == len(set(ids)), name
    # The gateway's own operations are named by their tag, and it lists each department's API ones as is.
    assert {"auth-token", "operations-livez", "contracts-asyncapi"} <= set(operation_ids(merged))
    for department in DEPARTMENTS:
        api = {"paths": {p: i for p, i in documents[department]["paths"].items() if p.startswith("/api/v1/")}}
        assert set(operation_ids(api)) <= set(operation_ids(merged)), department
