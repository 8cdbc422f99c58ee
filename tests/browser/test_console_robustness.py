"""Every console route, fed bad input over plain HTTP: never a 500, never a stack trace, nothing changed.

The routes are read from the console's router, so a page added later is covered without a change here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.e2e.conftest import Platform
from web.console import router

WEIRD = ["..%2F..%2Fetc%2Fpasswd", "%00", "x" * 600, "%E2%80%AE", "1%20OR%201%3D1", "%3Cscript%3E"]
WEIRD_QUERY = ["", "-1", "99999999999999999999", "<script>alert(1)</script>", "\u202e", "x" * 2000, "2026-13-45"]


def walk(routes: list) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # FastAPI's included router (no prefix is used here)
            yield from walk(route.original_router.routes)


def console_routes() -> list[APIRoute]:
    return [r for r in walk(router.routes) if r.path.startswith("/console")]


def session(platform: Platform) -> httpx.Client:
    client = httpx.Client(base_url=platform.gateway, timeout=30, follow_redirects=False)
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert token, page.text[:500]
    signed = client.post(
        "/console/login",
        data={"csrf_token": token.group(1), "username": platform.admin_user, "password": platform.admin_password},
    )
    assert signed.status_code == 303 and "hanse_session" in client.cookies
    return client


@pytest.fixture
def admin(console_platform: Platform) -> Iterator[httpx.Client]:
    client = session(console_platform)
    try:
        yield client
    finally:
        client.close()


def assert_a_page(response: httpx.Response) -> None:
    assert response.status_code < 500 or response.status_code == 503, (response.status_code, response.text[:1000])
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("text/html"), response.headers


def filled(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


def test_the_console_has_the_pages_the_issue_names() -> None:
    paths = {re.sub(r"\{[^}]+\}", "{}", r.path) for r in console_routes() if ":path}" not in r.path}
    for fixed in (
        "/console/login",
        "/console/orders",
        "/console/orders/{}",
        "/console/compliance/reviews",
        "/console/finance/invoices",
        "/console/tickets",
        "/console/procurement/purchase-orders",
        "/console/admin/webhooks",
    ):
        assert fixed in paths, fixed


def test_every_get_route_with_bad_ids_and_query_values(admin: httpx.Client) -> None:
    for route in console_routes():
        if "GET" not in route.methods:
            continue
        names = [p.name for p in route.dependant.query_params]
        for value in WEIRD if "{" in route.path else [""]:
            path = filled(route.path, value)
            assert_a_page(admin.get(path))
            for bad in WEIRD_QUERY:
                if names:
                    assert_a_page(admin.get(path, params={name: bad for name in names}))


def test_every_post_route_refuses_a_missing_csrf_token_before_doing_anything(admin: httpx.Client) -> None:
    for route in console_routes():
        if "POST" not in route.methods or ":path}" in route.path:  # the catch-all changes nothing: a 404 page
            continue
        response = admin.post(filled(route.path, "some-id"), data={"anything": "1"})
        assert response.status_code == 403, (route.path, response.status_code)
        assert "nothing was changed" in response.text


def test_every_post_route_with_a_token_and_nonsense_is_a_page_not_a_500(admin: httpx.Client) -> None:
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', admin.get("/console/").text)
    assert token
    for route in console_routes():
        if "POST" not in route.methods or route.path in ("/console/logout",):
            continue
        for value in WEIRD[:3]:
            for form in ({}, {"csrf_token": token.group(1)}, {"csrf_token": token.group(1), "x": "\u202e" * 50}):
                form = form or {"csrf_token": token.group(1), "quantity": "-1", "amount": "abc", "note": ""}
                assert_a_page(admin.post(filled(route.path, value), data=form))


def test_a_forged_session_cookie_is_sign_in_again_not_an_error(console_platform: Platform) -> None:
    with httpx.Client(base_url=console_platform.gateway, timeout=30) as client:
        client.cookies.set("hanse_session", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.", path="/console")
        response = client.get("/console/orders", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/login?next=%2Fconsole%2Forders&reason=expired")
