"""Contracts for client generators: the merged OpenAPI document and the AsyncAPI event catalogue.

GET /openapi.json on the gateway holds the gateway's own operations and every department's,
built at startup from the department apps in this process (no network), with each department's
schemas prefixed (`Sales…`); operationIds are `<tag>-<name>` everywhere (`hanse.http.operation_id`)
and a department's tag is its name, so they stay as they are (`sales-accept_quote`).
GET /api/v1/asyncapi.json is the AsyncAPI 3.0 document generated from the contract modules
(`services.event_registry()`); `hanse asyncapi > docs/asyncapi.json` writes the committed copy.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from pydantic.json_schema import models_json_schema

from hanse.events import CONTENT_TYPE, CloudEvent, EventPayload
from hanse.settings import Settings
from services import DEPARTMENTS, event_registry

router = APIRouter(tags=["contracts"])

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
SCHEMA_REF = "#/components/schemas/"
TOKEN_URL = "/api/v1/auth/token"


# -- OpenAPI ---------------------------------------------------------------------------------------


def _rename_refs(node: Any, renamed: dict[str, str]) -> Any:
    """A copy of an OpenAPI fragment whose schema $refs point at the renamed schemas."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(SCHEMA_REF):
                out[key] = SCHEMA_REF + renamed.get(value[len(SCHEMA_REF) :], value[len(SCHEMA_REF) :])
            else:
                out[key] = _rename_refs(value, renamed)
        return out
    if isinstance(node, list):
        return [_rename_refs(item, renamed) for item in node]
    return node


def _namespaced(department: str, operation_id: str) -> str:
    """A department's operationId in the merged document: kept when it is `<department>-...`, else prefixed."""
    return operation_id if operation_id.startswith(f"{department}-") else f"{department}_{operation_id}"


def merge_openapi(gateway: dict[str, Any], departments: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The gateway's document plus each department's /api/v1/<dept> operations, clash-free."""
    spec = copy.deepcopy(gateway)
    paths: dict[str, Any] = spec.setdefault("paths", {})
    components = spec.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    security: dict[str, Any] = components.setdefault("securitySchemes", {})
    operation_ids = {op.get("operationId") for item in paths.values() for m, op in item.items() if m in HTTP_METHODS}
    tags = {tag["name"]: tag for tag in spec.get("tags", [])}
    for department, document in departments.items():
        prefix = department.title()
        theirs = document.get("components", {})
        renamed = {name: prefix + name for name in theirs.get("schemas", {})}
        for name, schema in theirs.get("schemas", {}).items():
            if renamed[name] in schemas:
                raise ValueError(f"schema {renamed[name]} of {department} clashes with one already merged")
            schemas[renamed[name]] = _rename_refs(schema, renamed)
        for name, scheme in theirs.get("securitySchemes", {}).items():
            if security.setdefault(name, scheme) != scheme:
                raise ValueError(f"security scheme {name} of {department} differs from the gateway's")
        own_prefix = f"/api/v1/{department}"
        for path, item in document.get("paths", {}).items():
            if not (path == own_prefix or path.startswith(own_prefix + "/")):
                continue  # /livez, /readyz, /metrics of the department are not reachable through the gateway
            if path in paths:
                raise ValueError(f"path {path} of {department} is already in the gateway's document")
            item = _rename_refs(item, renamed)
            for method, operation in item.items():
                if method not in HTTP_METHODS:
                    continue
                operation["operationId"] = _namespaced(department, operation.get("operationId") or method)
                if operation["operationId"] in operation_ids:
                    raise ValueError(f"operationId {operation['operationId']} is not unique")
                operation_ids.add(operation["operationId"])
                operation.setdefault("tags", [department])
            paths[path] = item
        tags.setdefault(department, {"name": department, "description": f"The {department} department"})
    # Client generators and Swagger UI learn both token grants from this scheme.
    security["OAuth2"] = {
        "type": "oauth2",
        "description": "password grant for staff, client_credentials for partner apps; send the token as Bearer",
        "flows": {
            "password": {"tokenUrl": TOKEN_URL, "scopes": {}},
            "clientCredentials": {"tokenUrl": TOKEN_URL, "scopes": {}},
        },
    }
    spec["tags"] = list(tags.values())
    return spec


def department_documents() -> dict[str, dict[str, Any]]:
    """Every department's OpenAPI document, from its app built in this process."""
    documents = {}
    for department in DEPARTMENTS:
        module = importlib.import_module(f"services.{department}.app")
        documents[department] = module.app.openapi()
    return documents


def install_openapi(app: FastAPI) -> dict[str, Any]:
    """Replace the app's /openapi.json with the merged document (built once)."""
    own = FastAPI.openapi(app)
    merged = merge_openapi(own, department_documents())
    merged["info"]["description"] = (
        "One API for the Hanse departments. Log in at POST /api/v1/auth/token and send the token as "
        "`Authorization: Bearer`. Department operations are prefixed with the department name."
    )
    app.openapi_schema = merged
    app.openapi = lambda: merged  # type: ignore[method-assign]
    return merged


# -- AsyncAPI --------------------------------------------------------------------------------------


def _summary(model: type[EventPayload]) -> str:
    doc = inspect.getdoc(model) or ""
    return doc.strip().splitlines()[0] if doc.strip() else model.__name__


def _handlers() -> dict[str, list[str]]:
    """event type → the departments that handle it (from each service's HANDLERS table)."""
    consumers: dict[str, list[str]] = {}
    for department in DEPARTMENTS:
        try:
            module = importlib.import_module(f"services.{department}.handlers")
        except ModuleNotFoundError:
            continue
        for event_type in getattr(module, "HANDLERS", {}):
            consumers.setdefault(event_type, []).append(department)
    return consumers


# Who publishes events: the departments and the gateway (its answers to privacy requests).
PUBLISHERS = (*DEPARTMENTS, "gateway")


def asyncapi_document(topic_prefix: str = "hanse", partitions: int = 3) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every event the departments publish, and who consumes what."""
    reg = event_registry()
    types = dict(sorted(reg.types().items()))
    key_map, definitions = models_json_schema(
        [(model, "validation") for model in (CloudEvent, *types.values())],
        ref_template=SCHEMA_REF + "{model}",
    )
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    envelope_ref = key_map[(CloudEvent, "validation")]["$ref"]
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for department in PUBLISHERS:
        own = {name: model for name, model in types.items() if reg.department(name) == department}
        if not own:
            continue
        topic = f"{topic_prefix}.{department}"
        for name, model in own.items():
            messages[name] = {
                "name": name,
                "title": model.__name__,
                "summary": _summary(model),
                "contentType": CONTENT_TYPE,
                "payload": {
                    "allOf": [
                        {"$ref": envelope_ref},
                        {
                            "type": "object",
                            "required": ["data", "subject"],
                            "properties": {
                                "type": {"const": name},
                                "source": {"const": f"/hanse/{department}"},
                                "subject": {"type": "string", "description": f"the payload's {model.subject_field}"},
                                "data": key_map[(model, "validation")],
                            },
                        },
                    ]
                },
                "bindings": {
                    "kafka": {
                        "key": {"type": "string", "description": f"the aggregate id: data.{model.subject_field}"},
                        "bindingVersion": "0.5.0",
                    }
                },
            }
        channels[department] = {
            "address": topic,
            "title": f"{department} events",
            "description": f"Everything {department} publishes; the message key is the aggregate id, so one "
            f"aggregate's events stay in order. Dead letters of a consumer go to {topic_prefix}.<consumer>.dlq.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in own},
            "bindings": {"kafka": {"topic": topic, "partitions": partitions, "bindingVersion": "0.5.0"}},
        }
        operations[f"{department}.publish"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{department}"},
            "title": f"{department} publishes",
            "summary": "Written to the outbox in the same transaction as the change, then relayed (acks=all).",
            "messages": [{"$ref": f"#/channels/{department}/messages/{name}"} for name in own],
        }
    consumers = _handlers()
    for consumer in DEPARTMENTS:
        for producer in PUBLISHERS:
            handled = [
                name for name in types if reg.department(name) == producer and consumer in consumers.get(name, [])
            ]
            if not handled:
                continue
            operations[f"{consumer}.receive.{producer}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{producer}"},
                "title": f"{consumer} reacts to {producer}",
                "summary": f"Consumer group hanse-{consumer}; each event id is applied once (inbox).",
                "messages": [{"$ref": f"#/channels/{producer}/messages/{name}"} for name in handled],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Hanse events",
            "version": "1.0.0",
            "description": "Domain events of the Hanse departments: CloudEvents 1.0 in structured mode "
            "(application/cloudevents+json) on one Kafka topic per producing department. Generated from "
            "services/<dept>/contract.py by `hanse asyncapi`; never edit by hand.",
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "kafka": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "`make dev`'s embedded broker; KAFKA_BOOTSTRAP_SERVERS elsewhere",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


@router.get("/api/v1/asyncapi.json", summary="The AsyncAPI 3.0 event catalogue (generated from the contracts)")
async def asyncapi(request: Request) -> dict[str, Any]:
    return request.app.state.asyncapi


async def start(app: FastAPI) -> None:
    """Build both documents once at startup: the departments' apps are imported, not called."""
    settings: Settings = app.state.settings
    install_openapi(app)
    app.state.asyncapi = asyncapi_document(settings.topic_prefix, settings.topic_partitions)


async def stop(app: FastAPI) -> None:
    """Nothing to release."""
