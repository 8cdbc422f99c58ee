"""The gateway as `make dev` runs it: logins, users and partner apps, roles at both doors, limits, contracts."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate

from hanse.auth import issue_token
from hanse.settings import Settings
from tests.e2e.conftest import Platform, start_platform, stop_platform

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a-long-sales-password"
LEAD = {
    "company": "Nordlicht Handel GmbH",
    "contact_name": "Jana Berg",
    "email": "jana.berg@nordlicht-handel.de",
    "country": "DE",
    "consent_marketing": True,
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(platform: Platform, username: str, password: str) -> httpx.Response:
    return httpx.post(f"{platform.gateway}/api/v1/auth/token", data={"username": username, "password": password})


def is_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


def test_an_admin_creates_a_sales_user_who_is_refused_where_sales_may_not_go(platform: Platform, admin_headers):
    gw = platform.gateway
    username = f"ina.{uuid.uuid4().hex[:6]}"
    created = httpx.post(
        f"{gw}/api/v1/auth/users",
        json={"username": username, "password": PASSWORD, "roles": ["sales"]},
        headers=admin_headers,
    )
    assert created.status_code == 201, created.text
    assert "password" not in created.json()
    token = login(platform, username, PASSWORD)
    assert token.status_code == 200, token.text
    sales = bearer(token.json()["access_token"])
    is_problem(login(platform, username, "a-wrong-password"), 401)

    # A sales user may not create users, nor read the compliance audit trail, at the gateway ...
    is_problem(
        httpx.post(
            f"{gw}/api/v1/auth/users", json={"username": "x", "password": PASSWORD, "roles": ["sales"]}, headers=sales
        ),
        403,
    )
    refused = is_problem(httpx.get(f"{gw}/api/v1/compliance/audit", headers=sales), 403)
    assert "compliance" in refused["detail"]
    # ... nor at the compliance service's own port, which checks the same token itself.
    compliance = platform.services["compliance"]
    is_problem(httpx.get(f"{compliance}/api/v1/compliance/audit", headers=sales), 403)
    is_problem(httpx.get(f"{compliance}/api/v1/compliance/audit"), 401)
    # Where the matrix lets sales in, both doors open.
    assert httpx.get(f"{gw}/api/v1/compliance/checks", headers=sales).status_code == 200
    assert httpx.get(f"{compliance}/api/v1/compliance/checks", headers=sales).status_code == 200
    assert httpx.get(f"{gw}/api/v1/compliance/audit", headers=admin_headers).status_code == 200
    is_problem(httpx.get(f"{gw}/api/v1/sales/orders"), 401)


def test_a_partner_app_logs_in_with_client_credentials_and_reads_shipments_only(platform: Platform, admin_headers):
    gw = platform.gateway
    created = httpx.post(f"{gw}/api/v1/auth/clients", json={"name": "Baltic Forwarding"}, headers=admin_headers)
    assert created.status_code == 201, created.text
    client = created.json()
    assert client["roles"] == ["partner"]
    listed = httpx.get(f"{gw}/api/v1/auth/clients", params={"limit": 200}, headers=admin_headers).json()["items"]
    assert client["client_id"] in [c["client_id"] for c in listed] and client["client_secret"] not in json.dumps(listed)

    token = httpx.post(
        f"{gw}/api/v1/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
    )
    assert token.status_code == 200, token.text
    partner = bearer(token.json()["access_token"])
    assert httpx.get(f"{gw}/api/v1/logistics/shipments", headers=partner).status_code == 200
    assert httpx.get(f"{platform.services['logistics']}/api/v1/logistics/shipments", headers=partner).status_code == 200
    is_problem(httpx.post(f"{gw}/api/v1/sales/products", json={}, headers=partner), 403)
    is_problem(httpx.get(f"{gw}/api/v1/auth/users", headers=partner), 403)
    wrong = httpx.post(
        f"{gw}/api/v1/auth/token", data={"grant_type": "client_credentials"}, auth=(client["client_id"], "nope")
    )
    assert is_problem(wrong, 401)["error"] == "invalid_client"


def test_an_expired_token_is_a_401_at_the_gateway_and_at_the_service(platform: Platform):
    secret = (platform.data_dir / "jwt-secret").read_text().strip()
    expired, _ = issue_token("admin", ["admin"], Settings(env="dev", jwt_secret=secret), ttl_seconds=-60)
    for url in (f"{platform.gateway}/api/v1/sales/orders", f"{platform.services['sales']}/api/v1/sales/orders"):
        assert "expired" in is_problem(httpx.get(url, headers=bearer(expired)), 401)["detail"], url


def test_the_gateway_publishes_one_openapi_for_all_departments_and_the_fresh_asyncapi_catalogue(platform: Platform):
    spec = httpx.get(f"{platform.gateway}/openapi.json").json()
    validate(spec)
    for path in ("/api/v1/sales/quotes/{quote_id}/accept", "/api/v1/finance/payments", "/api/v1/auth/token"):
        assert path in spec["paths"], path
    catalogue = httpx.get(f"{platform.gateway}/api/v1/asyncapi.json")
    assert catalogue.status_code == 200
    assert catalogue.json() == json.loads((ROOT / "docs" / "asyncapi.json").read_text())
    schema = json.loads((ROOT / "tests" / "data" / "asyncapi-3.0.0.schema.json").read_text())
    assert not list(jsonschema.Draft7Validator(schema).iter_errors(catalogue.json()))


def test_limits_answer_429_with_retry_after_and_marketing_counts_the_real_client(tmp_path: Path):
    platform = start_platform(
        tmp_path,
        {
            "HANSE_GATEWAY_RATE_LIMIT": "5/minute",
            "HANSE_GATEWAY_LOGIN_RATE_LIMIT": "3/minute",
            "HANSE_LEAD_RATE_LIMIT": "2/minute",
        },
    )
    try:
        gw = platform.gateway
        admin = bearer(platform.token())  # login 1 of 3
        for _ in range(5):
            assert httpx.get(f"{gw}/api/v1/sales/products", headers=admin).status_code == 200
        throttled = is_problem(httpx.get(f"{gw}/api/v1/sales/products", headers=admin), 429)
        assert "5/minute" in throttled["detail"]
        assert int(httpx.get(f"{gw}/api/v1/sales/products", headers=admin).headers["retry-after"]) >= 1

        for _ in range(2):
            assert login(platform, "admin", "wrong-password").status_code == 401
        refused_login = login(platform, "admin", platform.admin_password)
        is_problem(refused_login, 429)
        assert int(refused_login.headers["retry-after"]) >= 1

        # `hanse dev` runs marketing behind the gateway: a forged X-Forwarded-For does not reset its count.
        for i in range(2):
            forged = {"X-Forwarded-For": f"198.51.100.{i}"}
            assert httpx.post(f"{gw}/api/v1/marketing/leads", json=LEAD, headers=forged).status_code == 202
        lead = httpx.post(f"{gw}/api/v1/marketing/leads", json=LEAD, headers={"X-Forwarded-For": "198.51.100.9"})
        assert "lead submissions" in is_problem(lead, 429)["detail"]
        assert int(lead.headers["retry-after"]) >= 1
    finally:
        stop_platform(platform)
