"""The AsyncAPI catalogue is valid AsyncAPI 3.0, complete and committed fresh; the OpenAPI merge avoids clashes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gateway.contracts import asyncapi_document, merge_openapi
from services import event_registry

ROOT = Path(__file__).resolve().parents[2]
# The official JSON Schema of AsyncAPI 3.0.0 (npm @asyncapi/specs 6.11.1, schemas/3.0.0-without-$id.json).
ASYNCAPI_SCHEMA = json.loads((ROOT / "tests" / "data" / "asyncapi-3.0.0.schema.json").read_text())


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_the_committed_catalogue_is_what_the_contracts_generate():
    committed = json.loads((ROOT / "docs" / "asyncapi.json").read_text())
    assert committed == asyncapi_document(), "stale: run `hanse asyncapi > docs/asyncapi.json`"


def test_the_catalogue_is_valid_asyncapi_3_and_every_reference_resolves():
    document = asyncapi_document()
    errors = [e.message for e in jsonschema.Draft7Validator(ASYNCAPI_SCHEMA).iter_errors(document)]
    assert not errors, errors[:5]
    for ref in refs(document):
        assert resolve(document, ref) is not None, ref


def test_the_validator_would_notice_a_broken_catalogue():
    document = asyncapi_document()
    broken = copy.deepcopy(document)
    broken["operations"]["sales.publish"]["action"] = "publish"  # AsyncAPI 2 wording
    assert list(jsonschema.Draft7Validator(ASYNCAPI_SCHEMA).iter_errors(broken))


def test_every_event_type_is_a_message_on_its_producers_channel_with_its_payload_schema():
    document = asyncapi_document(topic_prefix="acme", partitions=6)
    reg = event_registry()
    assert set(document["components"]["messages"]) == set(reg.types())
    for event_type, model in reg.types().items():
        department = reg.department(event_type)
        channel = document["channels"][department]
        assert channel["address"] == f"acme.{department}"
        assert channel["bindings"]["kafka"]["partitions"] == 6
        assert event_type in channel["messages"]
        publish = document["operations"][f"{department}.publish"]
        assert publish["action"] == "send"
        assert {"$ref": f"#/channels/{department}/messages/{event_type}"} in publish["messages"]
        message = document["components"]["messages"][event_type]
        envelope, specific = message["payload"]["allOf"]
        assert resolve(document, envelope["$ref"])["properties"]["specversion"]
        assert specific["properties"]["type"] == {"const": event_type}
        data = resolve(document, specific["properties"]["data"]["$ref"])
        assert set(data["properties"]) == set(model.model_fields)


def test_consumers_appear_as_receive_operations_on_the_producers_channel():
    document = asyncapi_document()
    receive = document["operations"]["logistics.receive.compliance"]
    assert receive["action"] == "receive" and receive["channel"] == {"$ref": "#/channels/compliance"}
    assert {"$ref": "#/channels/compliance/messages/compliance.order.cleared.v1"} in receive["messages"]


def _spec(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def test_merged_openapi_prefixes_schemas_and_operation_ids_and_drops_department_operations_routes():
    page = {"$ref": "#/components/schemas/Page"}
    department = _spec(
        {
            "/api/v1/sales/orders": {
                "get": {"operationId": "list", "responses": {"200": {"content": {"a": {"schema": page}}}}}
            },
            "/livez": {"get": {"operationId": "livez", "responses": {}}},
        },
        {"Page": {"type": "object", "properties": {"items": {"$ref": "#/components/schemas/Item"}}}, "Item": {}},
    )
    other = _spec({"/api/v1/finance/orders": {"get": {"operationId": "list", "responses": {}}}}, {"Page": {}})
    merged = merge_openapi(
        _spec({"/livez": {"get": {"operationId": "livez", "responses": {}}}}, {}),
        {"sales": department, "finance": other},
    )
    assert set(merged["paths"]) == {"/livez", "/api/v1/sales/orders", "/api/v1/finance/orders"}
    assert merged["paths"]["/api/v1/sales/orders"]["get"]["operationId"] == "sales_list"
    assert merged["paths"]["/api/v1/finance/orders"]["get"]["operationId"] == "finance_list"
    assert set(merged["components"]["schemas"]) == {"SalesPage", "SalesItem", "FinancePage"}
    schema = merged["paths"]["/api/v1/sales/orders"]["get"]["responses"]["200"]["content"]["a"]["schema"]
    assert schema == {"$ref": "#/components/schemas/SalesPage"}
    assert merged["components"]["schemas"]["SalesPage"]["properties"]["items"] == {
        "$ref": "#/components/schemas/SalesItem"
    }
    assert merged["components"]["securitySchemes"]["OAuth2"]["flows"]["clientCredentials"]["tokenUrl"]


def test_merged_openapi_refuses_a_clash_instead_of_hiding_an_operation():
    gateway = _spec({"/api/v1/sales/orders": {"get": {"operationId": "x", "responses": {}}}}, {})
    department = _spec({"/api/v1/sales/orders": {"get": {"operationId": "y", "responses": {}}}}, {})
    with pytest.raises(ValueError, match="already"):
        merge_openapi(gateway, {"sales": department})
