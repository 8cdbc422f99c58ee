"""The gateway's edge: rate limits, X-Forwarded-For for marketing's lead limit, body size, upstream faults."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.ratelimit import RateLimitSettings
from hanse.settings import Settings
from ops.broker import EmbeddedBroker
from services import DEPARTMENTS
from services.marketing import app as marketing_app
from services.marketing.config import MarketingConfig
from tests.conftest import free_port, make_settings
from tests.support.gateway import run_gateway
from tests.support.service import serve_on_port

LEAD = {
    "company": "Nordlicht Handel GmbH",
    "contact_name": "Jana Berg",
    "email": "jana.berg@nordlicht-handel.de",
    "country": "DE",
    "consent_marketing": True,
}


@pytest.fixture
def settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    return make_settings(broker.bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")


def nowhere() -> dict[str, str]:
    """Every department on a port nothing listens on: what passes the edge comes back 503."""
    return dict.fromkeys(DEPARTMENTS, f"http://127.0.0.1:{free_port()}")


def assert_throttled(response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["x-request-id"]


async def test_public_routes_are_limited_per_client_ip_and_the_rest_per_token_subject(settings: Settings):
    limits = RateLimitSettings(public_rate_limit="2/minute", rate_limit="3/minute", login_rate_limit="2/minute")
    async with run_gateway(settings, upstreams=nowhere(), limits=limits) as gw:
        for _ in range(2):
            passed = await gw.client.post("/api/v1/marketing/leads", json=LEAD)
            assert passed.status_code == 503, passed.text  # through the edge, to an absent marketing
        assert_throttled(await gw.client.post("/api/v1/marketing/leads", json=LEAD))

        alice, bob = gw.auth("sales", subject="alice"), gw.auth("sales", subject="bob")
        for _ in range(3):
            assert (await gw.client.get("/api/v1/sales/orders", headers=alice)).status_code == 503
        throttled = await gw.client.get("/api/v1/sales/orders", headers=alice)
        assert_throttled(throttled)
        assert "3/minute" in throttled.json()["detail"]
        # A new token of the same subject shares the count; another subject has its own.
        assert_throttled(await gw.client.get("/api/v1/sales/orders", headers=gw.auth("sales", subject="alice")))
        assert (await gw.client.get("/api/v1/sales/orders", headers=bob)).status_code == 503
        # The gateway's own routes count against the same per-subject limit.
        admin = gw.auth("admin", subject="carol")
        for _ in range(3):
            assert (await gw.client.get("/api/v1/auth/users", headers=admin)).status_code == 200
        assert_throttled(await gw.client.get("/api/v1/auth/users", headers=admin))

        for _ in range(2):
            assert (await gw.login("admin", "wrong-password")).status_code == 401
        assert_throttled(await gw.login("admin", "wrong-password"))


async def test_the_gateway_appends_the_client_to_x_forwarded_for_so_marketing_limits_the_real_client(
    broker: EmbeddedBroker, tmp_path: Path
):
    marketing_settings = make_settings(broker.bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'marketing.db'}")
    marketing = marketing_app.build(
        marketing_settings, MarketingConfig(lead_rate_limit="2/minute", behind_gateway=True)
    )
    gateway_settings = make_settings(broker.bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    async with serve_on_port(marketing, free_port()) as marketing_url:
        async with run_gateway(gateway_settings, upstreams={"marketing": marketing_url}) as gw:
            # A client that forges a new X-Forwarded-For each time is still the same client to marketing.
            for i in range(2):
                forged = {"X-Forwarded-For": f"198.51.100.{i}, 192.0.2.{i}"}
                accepted = await gw.client.post("/api/v1/marketing/leads", json=LEAD, headers=forged)
                assert accepted.status_code == 202, accepted.text
            refused = await gw.client.post(
                "/api/v1/marketing/leads", json=LEAD, headers={"X-Forwarded-For": "198.51.100.99"}
            )
            assert refused.status_code == 429, refused.text
            assert "lead submissions" in refused.json()["detail"]  # marketing's own limit, not the gateway's
            assert int(refused.headers["retry-after"]) >= 1
            # The department sees the gateway's Host, so what it links to is the gateway, not its own port.
            moved = await gw.client.get("/api/v1/marketing/leads/", headers=gw.auth("marketing"))
            assert moved.status_code == 307 and moved.headers["location"] == "http://gateway/api/v1/marketing/leads"
        # Another client (a different last entry, as the gateway would write it) has its own count.
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{marketing_url}/api/v1/marketing/leads", json=LEAD, headers={"X-Forwarded-For": "198.51.100.7"}
            ) as other:
                assert other.status == 202


async def test_a_body_over_the_limit_is_a_413_problem_and_is_not_forwarded(settings: Settings):
    async with run_gateway(settings, upstreams=nowhere()) as gw:
        too_big = b"{" + b" " * (1_048_576) + b"}"
        response = await gw.client.post(
            "/api/v1/marketing/leads", content=too_big, headers={"content-type": "application/json"}
        )
        assert response.status_code == 413, response.text
        assert response.headers["content-type"] == "application/problem+json"
        just_fits = await gw.client.post(
            "/api/v1/marketing/leads", content=b"{" + b" " * 1000 + b"}", headers={"content-type": "application/json"}
        )
        assert just_fits.status_code == 503  # forwarded: only the size decided the 413


@contextlib.asynccontextmanager
async def tcp_server(answer: bytes | None) -> AsyncIterator[str]:
    """A TCP peer that breaks HTTP: it answers `answer` and hangs up, or never answers at all."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        if answer is None:
            await asyncio.sleep(30)
        else:
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


async def test_upstream_faults_become_problems_that_name_the_department(settings: Settings):
    async with tcp_server(b"this is not HTTP\r\n\r\n") as broken, tcp_server(None) as stalled:
        upstreams = {**nowhere(), "finance": broken, "logistics": stalled}
        async with run_gateway(settings, upstreams=upstreams, timeout=aiohttp.ClientTimeout(total=1)) as gw:
            headers = {**gw.auth("admin"), "X-Request-ID": "fault-1"}
            for department, status in (("sales", 503), ("finance", 502), ("logistics", 504)):
                response = await gw.client.get(f"/api/v1/{department}/anything", headers=headers)
                assert response.status_code == status, (department, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert response.headers["x-request-id"] == "fault-1"
                problem = response.json()
                assert problem["department"] == department and department in problem["detail"]
            metrics = (await gw.client.get("/metrics")).text
            assert 'route="/api/v1/logistics/*",status="504"' in metrics


async def test_gateway_replaces_a_request_id_carrying_a_header_injection():
    """A CRLF in X-Request-ID must never be echoed into a header (the services apply the same rule)."""
    import httpx as _httpx

    from gateway.proxy import UpstreamProxy

    seen: list[str] = []

    async def upstream(scope, receive, send):
        # Echoes the request id it was given, as every Hanse service does.
        rid = dict(scope["headers"]).get(b"x-request-id", b"")
        seen.append(rid.decode("latin-1"))
        await send({"type": "http.response.start", "status": 204, "headers": [(b"x-request-id", rid)]})
        await send({"type": "http.response.body", "body": b""})

    import uvicorn

    from tests.conftest import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(upstream, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    settings = Settings(env="test", jwt_secret="s" * 40)
    proxy = UpstreamProxy(None, {"sales": f"http://127.0.0.1:{port}"}, settings=settings)
    await proxy.start()
    try:
        transport = _httpx.ASGITransport(app=proxy)
        async with _httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            evil = await client.get("/api/v1/sales/x", headers=[(b"x-request-id", b"abc\r\nX-Evil: 1")])
            sane = await client.get("/api/v1/sales/x", headers={"X-Request-ID": "req-42"})
    finally:
        await proxy.close()
        server.should_exit = True
        await task
    assert "\n" not in evil.headers.get("x-request-id", "") and "x-evil" not in evil.headers
    assert "\n" not in seen[0] and len(seen[0]) == 32
    assert seen[1] == "req-42" and sane.headers["x-request-id"] == "req-42"
