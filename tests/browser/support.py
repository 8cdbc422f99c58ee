"""What the browser tests share: a staff member's window (`Staff`), axe-core, screenshots, API set-up."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from playwright.sync_api import BrowserContext, Page, Response

from tests.e2e.conftest import Platform
from tests.e2e.flow import Gateway

CHROMIUM = "/usr/bin/chromium"
JWT_SECRET = "browser-test-secret-" + "y" * 40
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
# `make screenshots` sets this to docs/console; otherwise screenshots go to the test's own folder.
SCREENSHOTS = os.environ.get("HANSE_CONSOLE_SCREENSHOTS")

T = TypeVar("T")


def run(work: Callable[[], Awaitable[T]]) -> T:
    """Runs async set-up code (tests/e2e/flow.py's Gateway) on its own loop, beside sync playwright."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result()  # type: ignore[arg-type]


class Staff:
    """One browser context: a staff member at the console."""

    def __init__(self, context: BrowserContext, platform: Platform) -> None:
        self.context = context
        self.platform = platform
        self.page: Page = context.new_page()

    # -- people ------------------------------------------------------------------------------------

    def admin_token(self) -> str:
        return self.platform.token()

    def new_user(self, *roles: str) -> tuple[str, str]:
        """A staff user with `roles`, made through the admin API; returns (username, password)."""
        username = f"user-{uuid.uuid4().hex[:8]}"
        password = f"pw-{uuid.uuid4().hex}"
        response = httpx.post(
            f"{self.platform.gateway}/api/v1/auth/users",
            json={"username": username, "password": password, "roles": list(roles)},
            headers={"Authorization": f"Bearer {self.admin_token()}"},
            timeout=20,
        )
        assert response.status_code == 201, response.text
        return username, password

    def on_platform(self, work: Callable[[Gateway], Awaitable[T]]) -> T:
        """`await work(gateway)` with an admin's client of the gateway API (tests/e2e/flow.py's helpers)."""

        async def go() -> T:
            gateway = Gateway(self.platform)
            try:
                return await work(gateway)
            finally:
                await gateway.close()

        return run(go)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call of the gateway API as admin, answered as it comes (the test checks the status)."""
        return httpx.request(
            method,
            f"{self.platform.gateway}{path}",
            headers={"Authorization": f"Bearer {self.admin_token()}"},
            timeout=20,
            **kwargs,
        )

    def sign_in(self, username: str | None = None, password: str | None = None) -> None:
        page = self.page
        page.goto("/console/login")
        page.fill("#username", username or self.platform.admin_user)
        page.fill("#password", password or self.platform.admin_password)
        page.click("form[action='/console/login'] button[type=submit]")
        page.wait_for_url(lambda url: "/console/login" not in url)

    # -- pages -------------------------------------------------------------------------------------

    def open(self, path: str, status: int = 200) -> Response:
        response = self.page.goto(path)
        assert response is not None, path
        assert response.status == status, f"{path}: {response.status}\n{self.page.inner_text('main')[:2000]}"
        return response

    def axe(self, page: Page | None = None) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations on the page as it is now (WCAG 2.1 A and AA)."""
        page = page or self.page
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(AXE.read_text())  # evaluate, not a <script> tag: the console's CSP forbids inline
        result = page.evaluate(
            "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
        )
        return [
            {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]

    def assert_accessible(self, page: Page | None = None) -> None:
        violations = self.axe(page)
        assert not violations, f"axe-core on {(page or self.page).url}: {violations}"

    def screenshot(self, name: str, folder: Path) -> Path:
        target = Path(SCREENSHOTS) if SCREENSHOTS else folder
        target.mkdir(parents=True, exist_ok=True)
        path = target / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=False)
        return path
