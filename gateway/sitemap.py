"""GET /sitemap.xml: the storefront's sitemap, built by marketing from its SEO metadata and served here.

Search engines expect the sitemap at the site's root, not under a department's API, so the gateway
fetches marketing's public `/api/v1/marketing/sitemap.xml` and returns it unchanged. Public and
counted against the gateway's per-IP public limit, like the other public routes.
"""

from __future__ import annotations

import aiohttp
from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response

from gateway.proxy import UpstreamProxy
from hanse.http import client_address, problem

router = APIRouter(tags=["seo"])
SOURCE = "/api/v1/marketing/sitemap.xml"


@router.get(
    "/sitemap.xml",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}}, 503: {"description": "marketing is unreachable"}},
    summary="The storefront's sitemap (sitemaps.org 0.9 with hreflang alternates), public",
)
async def sitemap(request: Request) -> Response:
    proxy: UpstreamProxy = request.app.state.proxy
    proxy.limits.public.enforce(client_address(request, behind_gateway=False), "public requests")
    try:
        async with proxy.session.get(proxy.upstreams["marketing"] + SOURCE) as upstream:
            body = await upstream.read()
            if upstream.status != 200:
                return problem(503, f"marketing answered {upstream.status}", slug="unavailable", department="marketing")
            return Response(body, media_type="application/xml")
    except (aiohttp.ClientError, TimeoutError):
        return problem(503, "marketing is unreachable", slug="unavailable", department="marketing")


async def start(app: FastAPI) -> None:
    """Nothing to start: the sitemap uses the gateway's upstream client."""


async def stop(app: FastAPI) -> None:
    """Nothing to stop."""
