"""What create_service gives every service: health, metrics, problem+json, request ids, auth."""

from __future__ import annotations

import httpx
import pytest

from hanse.auth import issue_token
from tests.support import ledger


@pytest.fixture
async def ledger_client(settings):
    app = ledger.make_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def bearer(settings, *roles: str) -> dict[str, str]:
    token, _ = issue_token("tester", list(roles), settings)
    return {"Authorization": f"Bearer {token}"}


async def test_health_and_metrics(ledger_client, settings):
    assert (await ledger_client.get("/livez")).json()["status"] == "ok"
    ready = await ledger_client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    await ledger_client.post("/entries", json={"account": "a", "amount": 1}, headers=bearer(settings, "finance"))
    metrics = (await ledger_client.get("/metrics")).text
    assert 'hanse_http_requests_total{method="POST",route="/entries",status="201"} 1.0' in metrics
    assert "hanse_outbox_backlog" in metrics


async def test_no_token_is_401_wrong_role_is_403_and_admin_passes(ledger_client, settings):
    body = {"account": "a", "amount": 1}
    none = await ledger_client.post("/entries", json=body)
    assert none.status_code == 401 and none.headers["content-type"] == "application/problem+json"
    assert none.headers["www-authenticate"].startswith("Bearer")
    garbage = await ledger_client.post("/entries", json=body, headers={"Authorization": "Bearer x.y.z"})
    assert garbage.status_code == 401
    wrong = await ledger_client.post("/entries", json=body, headers=bearer(settings, "marketing"))
    assert wrong.status_code == 403 and wrong.json()["title"] == "Forbidden"
    admin = await ledger_client.post("/entries", json=body, headers=bearer(settings, "admin"))
    assert admin.status_code == 201


async def test_bad_input_is_a_problem_naming_the_field_and_changes_nothing(ledger_client, settings):
    headers = bearer(settings, "finance")
    invalid = await ledger_client.post("/entries", json={"account": "a", "amount": "lots"}, headers=headers)
    assert invalid.status_code == 422
    problem = invalid.json()
    assert invalid.headers["content-type"] == "application/problem+json"
    assert problem["field"] == "amount" and problem["status"] == 422 and problem["errors"]
    malformed = await ledger_client.post(
        "/entries", content=b"{nope", headers={**headers, "content-type": "application/json"}
    )
    assert malformed.status_code == 400 and malformed.json()["type"].endswith("malformed-json")
    too_big = await ledger_client.post(
        "/entries", content=b"x" * 2_000_000, headers={**headers, "content-type": "application/json"}
    )
    assert too_big.status_code == 413
    assert (await ledger_client.get("/applied")).json() == []
    missing = await ledger_client.get("/nowhere")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


async def test_request_id_is_kept_when_sane_and_replaced_when_not(ledger_client):
    kept = await ledger_client.get("/livez", headers={"X-Request-ID": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    replaced = await ledger_client.get("/livez", headers={"X-Request-ID": "bad\x7fid" + "x" * 300})
    assert replaced.headers["x-request-id"] != "abc-123" and len(replaced.headers["x-request-id"]) == 32
    generated = await ledger_client.get("/livez")
    assert len(generated.headers["x-request-id"]) == 32
