"""Browser tests of the operations console: Debian's Chromium driven by the Python `playwright` package.

The console gets its own platform (`console_platform`, xdist group "console", see tests/conftest.py),
so these tests run on the other worker while the e2e tests use the shared `platform`. Chromium is
Debian's (`/usr/bin/chromium`, installed by `make install`); playwright downloads no browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser.support import CHROMIUM, JWT_SECRET, Staff
from tests.e2e.conftest import Platform, start_platform, stop_platform


@pytest.fixture(scope="session")
def console_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    running = start_platform(
        tmp_path_factory.mktemp("console"),
        # A fixed secret, so a test can forge an expired session; leads posted from 127.0.0.1 in bulk.
        {"HANSE_JWT_SECRET": JWT_SECRET, "HANSE_LEAD_RATE_LIMIT": "600/minute"},
    )
    yield running
    stop_platform(running)


# Module scope, not session: between its calls sync playwright marks its event loop as running in
# this thread, so while a browser is open no other test on this worker could use asyncio.run or
# pytest-asyncio. It closes when a module's tests are done (a launch costs about a second).
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make install` installs Debian's chromium package")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def staff(browser: Browser, console_platform: Platform) -> Iterator[Staff]:
    """A browser window of a staff member in Berlin, English by default; `staff.sign_in()` to start."""
    context = browser.new_context(
        base_url=console_platform.gateway,
        locale="en-GB",
        timezone_id="Europe/Berlin",
        viewport={"width": 1280, "height": 900},
        accept_downloads=True,
    )
    context.set_default_timeout(20_000)
    try:
        yield Staff(context, console_platform)
    finally:
        context.close()
