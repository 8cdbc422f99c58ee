"""Swagger UI and ReDoc work offline: their scripts and styles are served by Hanse, not a CDN."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from ops.broker import EmbeddedBroker
from services import DEPARTMENTS
from tests.conftest import make_settings
from tests.support.gateway import run_gateway
from tests.support.service import run_service

# (page, the asset it must load, the content type that asset must have)
PAGES = (
    ("/docs", "swagger-ui-bundle.js", "javascript"),
    ("/docs", "swagger-ui.css", "text/css"),
    ("/redoc", "redoc.standalone.js", "javascript"),
)


async def assert_docs_served_locally(client: httpx.AsyncClient, where: str) -> None:
    for page, asset, content_type in PAGES:
        response = await client.get(page)
        assert response.status_code == 200, (where, page, response.text[:200])
        assert response.headers["content-type"].startswith("text/html")
        html = response.text
        # Every script and stylesheet is a path on this server: no CDN, so the page works with no network.
        external = re.findall(r"""(?:src|href)=["']((?:https?:)?//[^"']+)""", html)
        assert external == [], (where, page, external)
        urls = re.findall(rf"""(?:src|href)=["']([^"']*/{re.escape(asset)})["']""", html)
        assert len(urls) == 1, (where, page, asset)
        fetched = await client.get(urls[0])
        assert fetched.status_code == 200, (where, urls[0], fetched.text[:200])
        assert content_type in fetched.headers["content-type"], (where, urls[0], fetched.headers["content-type"])
        assert len(fetched.content) > 10_000, (where, urls[0])  # the real bundle, not an error page
    openapi = await client.get("/openapi.json")
    assert openapi.status_code == 200 and openapi.json()["paths"], where


async def test_the_gateway_serves_swagger_ui_and_redoc_from_its_own_files_through_the_edge(
    broker: EmbeddedBroker, tmp_path: Path
):
    settings = make_settings(broker.bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    async with run_gateway(settings) as gw:  # requests pass the edge (UpstreamProxy) as in production
        await assert_docs_served_locally(gw.client, "gateway")


@pytest.mark.parametrize("department", DEPARTMENTS)
async def test_each_department_serves_swagger_ui_and_redoc_from_its_own_files(
    department: str, broker: EmbeddedBroker, tmp_path: Path
):
    settings = make_settings(broker.bootstrap, f"sqlite+aiosqlite:///{tmp_path / f'{department}.db'}")
    async with run_service(department, settings) as service:
        await assert_docs_served_locally(service.client, department)
