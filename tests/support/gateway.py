"""Run the gateway in-process (real lifespan: database, upstream client, modules) for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.proxy import UpstreamProxy
from gateway.ratelimit import GatewayLimits, RateLimitSettings
from hanse.auth import issue_token
from hanse.db import drop_postgres_database, ensure_postgres_database
from hanse.settings import Settings

ADMIN_PASSWORD = "gateway-admin-password-42"
UNLIMITED = RateLimitSettings(rate_limit="off", public_rate_limit="off", login_rate_limit="off")


@dataclass
class Gateway:
    proxy: UpstreamProxy
    client: httpx.AsyncClient
    settings: Settings

    @property
    def app(self) -> FastAPI:
        return self.proxy.app  # type: ignore[return-value]

    def auth(self, *roles: str, subject: str = "tester", ttl_seconds: int | None = None) -> dict[str, str]:
        token, _ = issue_token(subject, list(roles), self.settings, ttl_seconds=ttl_seconds)
        return {"Authorization": f"Bearer {token}"}

    async def login(self, username: str, password: str) -> httpx.Response:
        return await self.client.post("/api/v1/auth/token", data={"username": username, "password": password})

    async def admin(self) -> dict[str, str]:
        response = await self.login(self.settings.admin_user, ADMIN_PASSWORD)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


@asynccontextmanager
async def run_gateway(
    settings: Settings,
    *,
    upstreams: dict[str, str] | None = None,
    limits: RateLimitSettings = UNLIMITED,
    **proxy_options: Any,
) -> AsyncIterator[Gateway]:
    """The gateway with its lifespan; `upstreams` points departments elsewhere (default: their URLs)."""
    from gateway.app import build

    settings = settings.model_copy(update={"admin_password": ADMIN_PASSWORD})
    proxy = build(settings)
    proxy.upstreams.update(upstreams or {})
    proxy.limits = GatewayLimits(limits)
    for name, value in proxy_options.items():
        setattr(proxy, name, value)
    app: FastAPI = proxy.app  # type: ignore[assignment]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=proxy, raise_app_exceptions=False, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30) as client:
            yield Gateway(proxy, client, settings)


@asynccontextmanager
async def database(kind: str, directory: Path) -> AsyncIterator[str]:
    """A fresh gateway database URL: a SQLite file in `directory`, or a new PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'gateway.db'}"
        return
    from tests.conftest import PG_BASE, postgres_available
    from tests.support.isolation import unique_name

    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    url = f"{PG_BASE}/{unique_name('hanse_gw')}"
    await ensure_postgres_database(url)
    try:
        yield url
    finally:
        await drop_postgres_database(url)
