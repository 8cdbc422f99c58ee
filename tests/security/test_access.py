"""Who may call what: every guarded route refuses no token (401) and the wrong role (403); forged tokens are refused."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest

from gateway.ratelimit import RateLimitSettings
from gateway.roles import AUTHENTICATED, PUBLIC, app_routes
from hanse.auth import ROLES, issue_token
from hanse.settings import Settings
from services import DEPARTMENTS
from tests.conftest import make_settings
from tests.support.gateway import run_gateway
from tests.support.service import RunningService, run_service

# The only routes anyone may call without a token (besides health, metrics and the API docs).
PUBLIC_ROUTES = {
    ("POST", "/api/v1/marketing/leads"),
    # Marketing's newsletter sign-up, its mail links (signed tokens) and the sitemap search engines read.
    ("POST", "/api/v1/marketing/subscribers"),
    ("GET", "/api/v1/marketing/subscribers/confirm"),
    ("POST", "/api/v1/marketing/unsubscribe"),
    ("GET", "/api/v1/marketing/sitemap.xml"),
    # A carrier's tracking events: the HMAC signature per carrier proves the sender (401 without it).
    ("POST", "/api/v1/logistics/carriers/{carrier}/events"),
    # Sales' storefront inquiry (RFQ) form, rate-limited per client like the lead form.
    ("POST", "/api/v1/sales/inquiries"),
}
# Routes open to any valid token, whatever its roles: the catalogue is what everyone sells from.
ANY_TOKEN_ROUTES = {("GET", "/api/v1/sales/products"), ("GET", "/api/v1/sales/products/{sku}")}
PARAM = re.compile(r"\{[^}]+\}")


@pytest.fixture(scope="module")
def base_settings(broker, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    directory = tmp_path_factory.mktemp("security")
    return make_settings(broker.bootstrap, None, data_dir=directory)


@pytest.fixture(scope="module")
async def services(base_settings: Settings) -> AsyncIterator[dict[str, RunningService]]:
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        running = {}
        for name in DEPARTMENTS:
            url = f"sqlite+aiosqlite:///{Path(base_settings.data_dir) / f'{name}.db'}"
            settings = base_settings.model_copy(update={"database_url": url})
            running[name] = await stack.enter_async_context(run_service(name, settings))
        yield running


def concrete(path: str) -> str:
    """A template path with every parameter filled by a well-formed id nobody has."""
    return PARAM.sub("SEC-NOBODY-1", path)


def forged(claims: dict, header: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part(header)}.{part(claims)}."


def bad_tokens(settings: Settings) -> dict[str, str]:
    """Tokens a service must refuse, each carrying the admin role."""
    good, _ = issue_token("mallory", ["admin"], settings)
    claims = jwt.decode(good, options={"verify_signature": False})
    return {
        "wrong signature": jwt.encode(claims, "another-secret-" + "y" * 40, algorithm="HS256"),
        "alg none": forged(claims, {"alg": "none", "typ": "JWT"}),
        "expired": issue_token("mallory", ["admin"], settings, ttl_seconds=-120)[0],
        "wrong issuer": jwt.encode({**claims, "iss": "somebody-else"}, settings.signing_secret(), algorithm="HS256"),
        "roles not a list": jwt.encode({**claims, "roles": "admin"}, settings.signing_secret(), algorithm="HS256"),
        "not a jwt": "not-a-token",
    }


def assert_problem(response: httpx.Response, status: int, what: str) -> None:
    assert response.status_code == status, f"{what}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"] == "application/problem+json", what


async def test_every_guarded_route_refuses_no_token_and_every_wrong_role(services: dict[str, RunningService]):
    public, any_token, guarded = set(), set(), 0
    for service in services.values():
        for method, path, access in app_routes(service.app):
            url = concrete(path)
            body = {} if method in ("POST", "PUT", "PATCH") else None
            if access == PUBLIC:
                public.add((method, path))
                continue
            anonymous = await service.client.request(method, url, json=body)
            assert_problem(anonymous, 401, f"{method} {path} without a token")
            assert anonymous.headers.get("www-authenticate", "").lower().startswith("bearer"), (method, path)
            if access == AUTHENTICATED:
                any_token.add((method, path))
                continue
            guarded += 1
            wrong = [r for r in ROLES if r != "admin" and r not in access]
            assert wrong, f"{method} {path} allows every role: list it as a route for any token"
            for role in wrong:
                refused = await service.client.request(method, url, json=body, headers=service.auth(role))
                assert_problem(refused, 403, f"{method} {path} as {role}")
            for role in access:
                allowed = await service.client.request(method, url, json=body, headers=service.auth(role))
                assert allowed.status_code not in (401, 403), f"{method} {path} refuses its own role {role}"
    assert public == PUBLIC_ROUTES
    assert any_token == ANY_TOKEN_ROUTES
    assert guarded > 40  # every department's routes were enumerated


async def test_health_metrics_and_docs_need_no_token(services: dict[str, RunningService]):
    for name, service in services.items():
        for path in ("/livez", "/readyz", "/metrics", "/openapi.json"):
            response = await service.client.get(path)
            assert response.status_code == 200, (name, path, response.text[:200])


async def test_forged_expired_and_unsigned_tokens_are_refused_by_every_service(
    services: dict[str, RunningService],
):
    probes = {
        "marketing": "/api/v1/marketing/campaigns",
        "sales": "/api/v1/sales/orders",
        "compliance": "/api/v1/compliance/watchlist",
        "finance": "/api/v1/finance/invoices",
        "logistics": "/api/v1/logistics/warehouses",
        "procurement": "/api/v1/procurement/suppliers",
    }
    for name, service in services.items():
        for what, token in bad_tokens(service.settings).items():
            response = await service.client.get(probes[name], headers={"Authorization": f"Bearer {token}"})
            assert_problem(response, 401, f"{name} with a token of {what}")
        assert (await service.client.get(probes[name], headers=service.auth("admin"))).status_code == 200


async def test_the_gateway_refuses_forged_expired_and_unsigned_tokens_before_forwarding(base_settings: Settings):
    async with run_gateway(base_settings.model_copy(update={"database_url": None})) as gateway:
        for what, token in bad_tokens(gateway.settings).items():
            for path in ("/api/v1/sales/orders", "/api/v1/finance/invoices"):
                response = await gateway.client.get(path, headers={"Authorization": f"Bearer {token}"})
                assert_problem(response, 401, f"gateway {path} with a token of {what}")


async def test_the_public_lead_form_is_rate_limited_with_retry_after(services: dict[str, RunningService]):
    marketing = services["marketing"]
    limit = int(marketing.app.state.config.lead_rate_limit.split("/")[0])
    lead = {
        "company": "Rate Limit GmbH",
        "contact_name": "Eve",
        "email": "eve@example.com",
        "country": "DE",
        "consent_marketing": False,
    }
    answers = []
    for _ in range(limit + 1):
        answers.append(await marketing.client.post("/api/v1/marketing/leads", json=lead))
    assert [a.status_code for a in answers[:limit]] == [202] * limit
    assert_problem(answers[-1], 429, "lead form over its limit")
    assert int(answers[-1].headers["retry-after"]) > 0


async def test_the_gateway_rate_limits_the_public_form_per_client_with_retry_after(base_settings: Settings):
    limits = RateLimitSettings(rate_limit="off", public_rate_limit="3/minute", login_rate_limit="off")
    settings = base_settings.model_copy(update={"database_url": None})
    # Marketing is not running behind this gateway: the first hits are 503, then the limit answers first.
    async with run_gateway(settings, upstreams={"marketing": "http://127.0.0.1:9"}, limits=limits) as gateway:
        statuses = [(await gateway.client.post("/api/v1/marketing/leads", json={})).status_code for _ in range(4)]
        assert statuses[:3] != [429] * 3 and statuses[3] == 429, statuses
        refused = await gateway.client.post("/api/v1/marketing/leads", json={})
        assert_problem(refused, 429, "gateway public limit")
        assert int(refused.headers["retry-after"]) > 0
